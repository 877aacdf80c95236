// Opens an audit file for reading, turning a missing or unreadable file into a message an operator can act on.
import { open, type FileHandle } from 'node:fs/promises';
import { UpstreamError, UserError } from '../errors.js';

export async function openForReading(file: string): Promise<{ handle: FileHandle; size: number }> {
  if (typeof file !== 'string' || file === '') {
    throw new UserError('audit file path must be a non-empty string', { code: 'input_invalid' });
  }
  let handle: FileHandle;
  try {
    handle = await open(file, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new UserError(
        `audit log ${file} does not exist: nothing has been recorded there yet, or the path is wrong (pass --file, or set audit.file / MLOPS_AGENT_AUDIT_FILE)`,
        { code: 'not_found', cause: err },
      );
    }
    if (code === 'EISDIR')
      throw new UserError(`audit log ${file} is a directory; point --file at the audit.jsonl inside it`, {
        code: 'input_invalid',
        cause: err,
      });
    throw new UpstreamError('audit', `cannot read audit log ${file}: ${(err as Error).message}`, {
      retryable: false,
      code: 'audit_failed',
      cause: err,
    });
  }
  try {
    const stat = await handle.stat();
    if (stat.isDirectory())
      throw new UserError(`audit log ${file} is a directory; point --file at the audit.jsonl inside it`, {
        code: 'input_invalid',
      });
    return { handle, size: stat.size };
  } catch (err) {
    await handle.close();
    throw err;
  }
}
