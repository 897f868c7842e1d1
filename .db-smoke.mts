import { collectDb } from './src/db/report.ts';
const pw = encodeURIComponent(process.env.PG_TEST_MON_PASSWORD!);
const url = process.argv[2] ?? `postgresql+psycopg2://${process.env.PG_TEST_MON_USER}:${pw}@127.0.0.1:${process.env.PG_TEST_PORT}/appdb?sslmode=require`;
const t = Date.now();
const r = await collectDb({ url, variable: 'DATABASE_URL', stateDir: '/tmp/db-smoke-state', longMs: 30000, windowMs: 3600000, now: new Date(), keep: true });
console.log(JSON.stringify(r, null, 1).slice(0, 4000), Date.now() - t);
