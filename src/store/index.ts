/** Persistence of the KBS: the `Store` interface and its SQLite (default) and PostgreSQL adapters. */
export * from './store.js';
export { openSqliteStore, SQLITE_FILE, KEK_FILE, type SqliteStoreOptions } from './sqlite.js';
export { openPostgresStore, type PostgresStoreOptions } from './postgres.js';
export { loadKek, loadOrCreateKekFile, parseKekText, kekFingerprint, KEK_BYTES } from './kek.js';
export { openStore, startExpirySweep, startAuditRetention, type StoreConfig, type ExpirySweep, type AuditRetentionOptions } from './open.js';
