import { describeReferenceHost } from '../helpers/guests/reference-host.js';

// Debian 12: nodejs 18.20.4, npm 9.2, PostgreSQL 15, pgbouncer 1.18 from the apt cache.
describeReferenceHost('bookworm', { node: /^v18\.(19|[2-9]\d)\./, pgbouncer: /^1\.18\./ });
