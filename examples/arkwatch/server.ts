/**
 * `TOLLGATE_DEMO_KEY=sk_test_demo npm start`, then `npx tsx examples/arkwatch/server.ts`
 * (PORT, TOLLGATE_URL and TOLLGATE_KEY override the defaults).
 */
import { listen } from '../shared/http.ts';
import { createApp } from './app.ts';
import { connect } from './tollgate.ts';

const url = await listen(createApp({ tollgate: connect() }), Number(process.env.PORT ?? 3002));
console.log(`ArkWatch on ${url}: POST /signup, GET /account/:user, GET|POST /watches/:user, POST /trial/:user, GET /billing/:user`);
