/**
 * Imported first by src/main.ts, before any module that may create a file: everything imghost
 * makes (stored originals, temp and mail files, the session secret) is its user's alone, whatever
 * umask the shell or service manager handed down. The embedded database's files keep the modes
 * PGlite's own file layer gives them, so a new one is closed separately (closeTreeToOthers in
 * src/data-dir.ts), and DATA_DIR itself is made 0700 (prepareDataDir).
 */
process.umask(0o077)
