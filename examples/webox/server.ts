/**
 * `TOLLGATE_DEMO_KEY=sk_test_demo npm start`, then `npx tsx examples/webox/server.ts`
 * (PORT, TOLLGATE_URL and TOLLGATE_KEY override the defaults).
 */
import { listen } from '../shared/http.ts';
import { createApp } from './app.ts';
import { connect } from './tollgate.ts';

const url = await listen(createApp({ tollgate: connect() }), Number(process.env.PORT ?? 3004));
console.log(`Webox on ${url}: GET /products, POST /signup, GET|POST /cart/:user, POST /checkout/:user, GET /orders/:id`);
