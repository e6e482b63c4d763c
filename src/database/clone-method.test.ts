import { describe, expect, it } from 'vitest';
import { cloneFailure, planFileCopy, type FileCopyFacts } from './clone-method.js';

const pg15: FileCopyFacts = { serverVersionNum: 150014, serverVersion: '15.14', methods: null, serverDefault: null };
const pg18: FileCopyFacts = { serverVersionNum: 180004, serverVersion: '18.4', methods: ['copy', 'clone'], serverDefault: 'copy' };
const pg18NoClone: FileCopyFacts = { ...pg18, methods: ['copy'] };

describe('planFileCopy', () => {
  it('auto clones on PG 18 when the server offers clone, and sets nothing before 18', () => {
    expect(planFileCopy('auto', pg18, 'FILE_COPY')).toMatchObject({ ok: true, set: 'clone', constantTime: 'if-reflink' });
    expect(planFileCopy('auto', pg15, 'FILE_COPY')).toMatchObject({ ok: true, set: null, constantTime: 'no' });
    expect(planFileCopy('auto', pg18NoClone, 'FILE_COPY')).toMatchObject({ ok: true, set: 'copy', constantTime: 'no' });
  });

  it('copy sets copy on PG 18 whatever the server default is', () => {
    expect(planFileCopy('copy', { ...pg18, serverDefault: 'clone' }, 'FILE_COPY')).toMatchObject({ ok: true, set: 'copy' });
    expect(planFileCopy('copy', pg15, 'FILE_COPY')).toMatchObject({ ok: true, set: null });
  });

  it('clone where the server cannot is refused with the fix, not turned into a copy', () => {
    const old = planFileCopy('clone', pg15, 'FILE_COPY');
    expect(old).toMatchObject({ ok: false });
    expect(old.ok === false && old.fix).toContain('database.cloneMethod: auto or copy');
    const noClone = planFileCopy('clone', pg18NoClone, 'FILE_COPY');
    expect(noClone.ok === false && noClone.detail).toContain('accepts only copy');
  });

  it('WAL_LOG never reads file_copy_method', () => {
    for (const setting of ['auto', 'clone', 'copy'] as const) {
      for (const facts of [pg15, pg18]) expect(planFileCopy(setting, facts, 'WAL_LOG')).toMatchObject({ ok: true, set: null, constantTime: 'no' });
    }
  });
});

describe('cloneFailure', () => {
  // The text of copydir.c clone_file; errcode_for_file_access gives XX000 for EXDEV/EOPNOTSUPP.
  const message = 'could not clone file "base/16384/1255" to "base/16999/1255": Operation not supported';
  it('names the filesystem and the setting for a refused copy_file_range', () => {
    const text = cloneFailure(message, 'XX000');
    expect(text).toContain(message);
    expect(text).toContain('reflink=1');
    expect(text).toContain('database.cloneMethod: copy');
  });
  it('leaves a full disk and unrelated errors alone', () => {
    expect(cloneFailure('could not clone file "a" to "b": No space left on device', '53100')).toBeNull();
    expect(cloneFailure('permission denied to create database', '42501')).toBeNull();
  });
});
