/**
 * `TOLLGATE_DEMO_KEY=sk_test_demo npm start`, then `npx tsx examples/aurisvoice/server.ts`
 * (PORT, TOLLGATE_URL and TOLLGATE_KEY override the defaults).
 */
import { listen } from '../shared/http.ts';
import { createApp } from './app.ts';
import { connect } from './tollgate.ts';

const url = await listen(createApp({ tollgate: connect() }), Number(process.env.PORT ?? 3001));
console.log(`AurisVoice on ${url}: POST /signup {user_id, email}, GET /credits/:user, POST /dub {user_id, seconds}`);
