// Health probe for the testapp image that needs only node (works on node:24-slim too, which has
// no wget or curl): exit 0 when GET /health answers 2xx within 2 s, else 1.
//   --health-cmd 'node /app/healthcheck.js'
const port = process.env.PORT || 8080;
fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(2000) }).then(
  (res) => process.exit(res.ok ? 0 : 1),
  () => process.exit(1),
);
