import { z } from 'zod';
import { SCRAM_MAX_ITERATIONS } from '../auth/scram.js';
import { SETTINGS } from '../settings/catalogue.js';
import { identifierProblem, PGBOUNCER_INT_MAX, safeText, settingSchema, listFromString, numberLike, type SettingValue } from '../settings/values.js';
import { isCidr } from '../settings/address.js';
import { Secret } from './secret.js';

/**
 * The one schema for a profile: the built-in profiles/<env>.json, a user's --profile FILE, and the
 * merged result of every layer are all checked by it. Unknown keys are errors, not silently dropped.
 */

const pgbouncerShape: Record<string, z.ZodType<SettingValue>> = {};
for (const def of SETTINGS) pgbouncerShape[def.key] = settingSchema(def.type).optional() as z.ZodType<SettingValue>;
const pgbouncerSettingsSchema = z.strictObject(pgbouncerShape).partial();

const PORT = 'must be a port from 1 to 65535';
const port = z.preprocess(numberLike, z.number({ invalid_type_error: PORT }).int({ message: PORT }).min(1, { message: PORT }).max(65535, { message: PORT }));

const count = (min = 0) =>
  z.preprocess(
    numberLike,
    z
      .number({ invalid_type_error: 'must be a whole number' })
      .int({ message: 'must be a whole number' })
      .min(min, { message: `must be at least ${min}` })
      .max(PGBOUNCER_INT_MAX, { message: `must be at most ${PGBOUNCER_INT_MAX}` }),
  );

/** A PostgreSQL identifier as users type it: any text but control characters, at most 63 bytes. */
const identifier = z.string().superRefine((s, ctx) => {
  const problem = s !== s.trim() ? 'must not start or end with spaces' : identifierProblem(s);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

const hostName = safeText.refine((s) => /^[A-Za-z0-9_.:-]+$/.test(s) || /^\/[^\s'"\\]*$/.test(s), {
  message: 'must be a host name, an IP address or an absolute socket directory',
});

/** DNS names are at most 253 characters; a socket directory must leave room for "/.s.PGSQL.65535" in sun_path (108 bytes). */
const MAX_HOST_NAME = 253;
const MAX_SOCKET_DIR_BYTES = 92;
const hostNameLength = (s: string): boolean => (s.startsWith('/') ? Buffer.byteLength(s) <= MAX_SOCKET_DIR_BYTES : s.length <= MAX_HOST_NAME);
const hostNameChecked = hostName.refine(hostNameLength, {
  message: `is too long: a host name has at most ${MAX_HOST_NAME} characters, a socket directory at most ${MAX_SOCKET_DIR_BYTES} bytes`,
});

const cidr = safeText.refine(isCidr, { message: 'must be an IPv4 or IPv6 address or CIDR such as 10.0.0.0/8' });

export { isCidr };

const stringList = (item: z.ZodType<string, z.ZodTypeDef, string>) => z.preprocess((v) => (typeof v === 'string' ? listFromString(v) : v), z.array(item));

const secret = z.union([z.instanceof(Secret), z.string().transform((s) => new Secret(s))]).refine(
  (s) => !/[\u0000\r\n]/.test(s.reveal()),
  { message: 'must not contain NUL or line breaks' },
).refine((s) => !/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(s.reveal()), {
  message: 'contains an unpaired UTF-16 surrogate, which has no UTF-8 form; use valid Unicode text',
}).refine((s) => !s.reveal().includes('\ufffd'), {
  message: 'contains U+FFFD, which is what bytes that are not valid UTF-8 turn into; use valid UTF-8 text',
});

const databaseEntrySchema = z.strictObject({
  host: hostNameChecked.optional(),
  port: port.optional(),
  dbname: identifier.optional(),
  pool_size: count().optional(),
  min_pool_size: count().optional(),
  reserve_pool_size: count().optional(),
  pool_mode: z.enum(['session', 'transaction', 'statement']).optional(),
  max_db_connections: count().optional(),
  application_name: safeText.optional(),
});

export const profileSchema = z.strictObject({
  $schema: z.string().optional(),
  description: z.string().optional(),
  /** Free-text reasons next to the values, kept in the JSON so the why travels with the what. */
  why: z.record(z.string(), z.string()).optional(),
  database: z
    .strictObject({
      name: identifier.refine((s) => s !== 'pgbouncer', { message: '"pgbouncer" is reserved for the admin console' }).optional(),
      host: hostNameChecked.optional(),
      port: port.default(5432),
      user: identifier.optional(),
      password: secret.optional(),
    })
    .default({}),
  pgbouncer: pgbouncerSettingsSchema.default({}),
  databases: z
    .record(identifier, databaseEntrySchema)
    .superRefine((dbs, ctx) => {
      // pgbouncer 1.16+ refuses to start: "database name pgbouncer is reserved".
      if (Object.hasOwn(dbs, 'pgbouncer')) ctx.addIssue({ code: 'custom', path: ['pgbouncer'], message: '"pgbouncer" is reserved for the admin console (pgbouncer refuses to start); give the entry another name' });
    })
    .default({}),
  userlist: z
    .strictObject({
      method: z.enum(['scram-sha-256', 'md5']).default('scram-sha-256'),
      iterations: count(1).pipe(z.number().max(SCRAM_MAX_ITERATIONS, { message: `must be at most ${SCRAM_MAX_ITERATIONS} (every login pays the PBKDF2 rounds; PostgreSQL's default is 4096)` })).default(4096),
    })
    .default({}),
  firewall: z.strictObject({ allow_from: stringList(cidr).default([]) }).default({}),
  server: z
    .strictObject({
      max_connections: count(1).optional(),
      superuser_reserved_connections: count().default(3),
    })
    .default({}),
  host: z.strictObject({ nofile_limit: count(1).optional() }).default({}),
  django: z
    .strictObject({
      application_name: safeText.optional(),
      conn_max_age: z.union([count(), z.null()]).optional(),
      conn_health_checks: z.boolean().optional(),
      connect_timeout: count(1).optional(),
      sslmode: z.enum(['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full']).optional(),
      /** Where the app hosts keep the CA that signed pgbouncer's certificate (the hop to pgbouncer only). */
      sslrootcert: safeText.refine((s) => s.startsWith('/'), { message: 'must be an absolute path on the app hosts' }).optional(),
    })
    .default({}),
});

export type Profile = z.infer<typeof profileSchema>;

/** Paths (dot-separated) that hold secrets: masked in every output, refused on the command line. */
export const SECRET_PATHS: ReadonlySet<string> = new Set(['database.password']);
