/**
 * Imported first by src/main.ts, before any module that may create a file: everything imghost
 * makes (the embedded database, stored originals, temp and mail files, the session secret) is
 * its user's alone, whatever umask the shell or service manager handed down. PGlite's initdb
 * and the snapshot unpacking set no modes of their own, so the umask is what keeps them private.
 */
process.umask(0o077)
