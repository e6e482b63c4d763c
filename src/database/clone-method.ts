// How a FILE_COPY clone copies the template's files: PG 18's `file_copy_method`.
// Pure: the server's facts and previewd's setting in, the method to SET (or why none
// can be) out. Used by the clone itself (preview-databases.ts) and by doctor, so the
// two never disagree about what a clone will do.
//
// What the real server does (postgres/postgres, PG 18):
// - src/backend/utils/misc/guc_tables.c: `file_copy_method` is an enum GUC, values
//   `copy` (default) and `clone`; `clone` is compiled in only where the platform has
//   copyfile(COPYFILE_CLONE_FORCE) (macOS) or copy_file_range (Linux, FreeBSD), so
//   pg_settings.enumvals lists what this server accepts. Its context is PGC_USERSET
//   (pg_settings.context = 'user' on the embedded 18.x the tests run): any role may
//   SET it for its own session, no superuser and no postgresql.conf change needed.
// - src/backend/storage/file/copydir.c clone_file(): on Linux a copy_file_range loop.
//   That shares extents (reflink) on XFS with reflink=1, btrfs and ZFS with block
//   cloning, which makes the clone constant-time; on ext4 the kernel copies the data
//   in place of sharing it and nothing errors: as slow as `copy`, never slower.
//   When copy_file_range itself fails it raises `could not clone file "…" to "…": %m`
//   and does not fall back.
// - src/backend/storage/file/copydir.c copy_file() (`copy`, and every FILE_COPY before
//   18) is a read()/write() loop through a buffer: it never calls copy_file_range, so it
//   never shares extents, whatever the filesystem. copydir() then fsyncs every new file
//   and the directory, but only `if (enableFsync)`: with fsync = off it returns right
//   after the copy, which then lands in the page cache only.
//   That is why issue 14's measurement found both methods fast on XFS: the embedded
//   PG 18 of the tests runs with fsync = off (sandbox/embedded-pg.ts), so `copy` of
//   1 GB was a memory copy (0.15-0.34 s) while `clone` shared extents. The result
//   depends on the server's `fsync` setting: with fsync = on, as on any real server
//   (bench/database.ts --pg18-xfs starts it so), `copy` took 3.9 s at 1 GB and used
//   1 GB of disk, `clone` 0.18 s and none (bench/RESULTS.md). copy_file_range itself
//   reflinks on XFS because the kernel's vfs_copy_file_range (linux fs/read_write.c) tries the filesystem's
//   remap_file_range (FICLONE's path) first when both files are on one filesystem.
// - Servers before 18 have no such setting: FILE_COPY always copies.
import type { CreateDatabaseOptions } from './types.js';

/** previewd's setting (config database.cloneMethod). */
export type CloneMethodSetting = 'auto' | 'clone' | 'copy';

export const CLONE_METHOD_SETTINGS = ['auto', 'clone', 'copy'] as const satisfies readonly CloneMethodSetting[];

export interface FileCopyFacts {
  serverVersionNum: number;
  serverVersion: string;
  /** pg_settings.enumvals of file_copy_method; null when the server has no such setting (before 18). */
  methods: string[] | null;
  /** The server's value for a new session (postgresql.conf, ALTER ROLE/DATABASE … SET); null before 18. */
  serverDefault: string | null;
}

export type FileCopyPlan =
  /** `set`: the value previewd SETs in the cloning session; null: the server has nothing to set. */
  | { ok: true; set: 'clone' | 'copy' | null; constantTime: 'if-reflink' | 'no'; detail: string }
  | { ok: false; detail: string; fix: string };

/** The fix an operator applies when clones copy every byte (or cannot clone at all). */
export const REFLINK_FIX =
  "put the server's data directory on a filesystem with reflinks (XFS made with mkfs.xfs -m reflink=1, btrfs, ZFS 2.2+ with block cloning)";

/** What a FILE_COPY clone on this server does under this setting; WAL_LOG never reads file_copy_method. */
export function planFileCopy(setting: CloneMethodSetting, facts: FileCopyFacts, strategy: CreateDatabaseOptions['strategy']): FileCopyPlan {
  const server = `PostgreSQL ${facts.serverVersion}`;
  if (strategy === 'WAL_LOG') {
    return { ok: true, set: null, constantTime: 'no', detail: `STRATEGY WAL_LOG writes every page of the template through the WAL: time grows with its size (FILE_COPY with file_copy_method = clone on PG 18+ can share the files instead)` };
  }
  if (facts.methods === null) {
    if (setting === 'clone') {
      return { ok: false, detail: `database.cloneMethod is clone but ${server} has no file_copy_method (PostgreSQL 18+)`, fix: 'upgrade to PostgreSQL 18, or set database.cloneMethod: auto or copy' };
    }
    return { ok: true, set: null, constantTime: 'no', detail: `${server}: STRATEGY FILE_COPY copies every file of the template (file_copy_method = clone needs PostgreSQL 18+)` };
  }
  const canClone = facts.methods.includes('clone');
  if (setting === 'copy') {
    return { ok: true, set: 'copy', constantTime: 'no', detail: `${server}: STRATEGY FILE_COPY with file_copy_method = copy (database.cloneMethod: copy) copies every file of the template` };
  }
  if (!canClone) {
    if (setting === 'clone') {
      return { ok: false, detail: `database.cloneMethod is clone but ${server} was built without clone support (file_copy_method accepts only ${facts.methods.join(', ')})`, fix: 'use a build with copy_file_range (Linux) or copyfile (macOS), or set database.cloneMethod: copy' };
    }
    return { ok: true, set: 'copy', constantTime: 'no', detail: `${server}: this build offers no file_copy_method = clone; STRATEGY FILE_COPY copies every file of the template` };
  }
  return {
    ok: true,
    set: 'clone',
    constantTime: 'if-reflink',
    detail:
      `${server}: STRATEGY FILE_COPY with file_copy_method = clone (set per session by previewd; server default ${facts.serverDefault ?? 'copy'}): ` +
      `constant-time when the data directory's filesystem shares extents (XFS reflink=1, btrfs, ZFS block cloning), a full copy on others such as ext4; previewd cannot see the server's filesystem`,
  };
}

/**
 * A clone that failed inside clone_file (copydir.c: `could not clone file "…" to
 * "…": %m`) for a reason other than a full disk: the filesystem refuses
 * copy_file_range. The message, and its fix, or null for any other error.
 */
export function cloneFailure(message: string, sqlstate: string | undefined): string | null {
  if (!message.startsWith('could not clone file')) return null;
  // errcode_for_file_access (src/backend/utils/error/elog.c): ENOSPC is 53100, a
  // full disk, which reflinks would not fix.
  if (sqlstate === '53100') return null;
  return `PostgreSQL could not clone the template's files with file_copy_method = clone (${message}); ${REFLINK_FIX}, or set database.cloneMethod: copy`;
}
