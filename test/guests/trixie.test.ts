import { describeReferenceHost } from '../helpers/guests/reference-host.js';

// Debian 13: its own Node.js 20 and pgbouncer 1.24.
describeReferenceHost('trixie', { node: /^v20\./, pgbouncer: /^1\.24\./ });
