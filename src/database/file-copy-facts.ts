// Reads what planFileCopy (clone-method.ts) needs from the server, as any role:
// pg_settings is readable by everyone, and lists file_copy_method only on PG 18+.
import type pg from 'pg';
import type { FileCopyFacts } from './clone-method.js';

export async function readFileCopyFacts(client: Pick<pg.ClientBase, 'query'>): Promise<FileCopyFacts> {
  const { rows } = await client.query<{ num: string; text: string; methods: string[] | null; value: string | null }>(
    `SELECT pg_catalog.current_setting('server_version_num') AS num, pg_catalog.current_setting('server_version') AS text,
            s.enumvals AS methods, s.reset_val AS value
       FROM (SELECT 1) AS one LEFT JOIN pg_catalog.pg_settings s ON s.name OPERATOR(pg_catalog.=) 'file_copy_method'`,
  );
  const row = rows[0]!;
  return { serverVersionNum: Number(row.num), serverVersion: row.text, methods: row.methods, serverDefault: row.value };
}
