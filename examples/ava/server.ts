/**
 * `TOLLGATE_DEMO_KEY=sk_test_demo npm start`, then `npx tsx examples/ava/server.ts`
 * (PORT, TOLLGATE_URL and TOLLGATE_KEY override the defaults).
 */
import { listen } from '../shared/http.ts';
import { createApp } from './app.ts';
import { connect } from './tollgate.ts';

const url = await listen(createApp({ tollgate: connect() }), Number(process.env.PORT ?? 3005));
console.log(`Ava on ${url}: POST /onboarding/:user/start|vapi|twilio|assistant, GET /onboarding/:user, POST /calls/:user {to}`);
