// Ed25519 keys for checkpoints: the agent signs with the private key from config; anyone
// holding the public key can check a checkpoint, offline.
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { UserError } from '../errors.js';
import { canonicalJson, sha256Hex } from './canonical.js';
import type { Checkpoint } from './types.js';

export interface CheckpointSigner {
  keyId: string;
  publicKey: KeyObject;
  /** Base64 signature of `payload`. */
  sign(payload: string): string;
}

/** Public keys by key id. */
export type KeyRing = ReadonlyMap<string, KeyObject>;

/** First 16 hex digits of SHA-256 of the raw 32-byte Ed25519 public key. */
export function keyIdOf(publicKey: KeyObject): string {
  const jwk = publicKey.export({ format: 'jwk' });
  return sha256Hex(Buffer.from(String(jwk.x), 'base64url')).slice(0, 16);
}

function readKeyFile(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'does not exist' : (err as Error).message;
    throw new UserError(`${what} ${file} ${why}; create a key pair with \`mlops-agent audit keygen --out FILE\``, {
      code: 'config_invalid',
      cause: err,
    });
  }
}

function notEd25519(file: string, what: string, cause?: unknown): UserError {
  return new UserError(
    `${what} ${file} is not an Ed25519 key in PEM form; create one with \`mlops-agent audit keygen --out FILE\``,
    { code: 'config_invalid', cause },
  );
}

export function loadSigningKey(file: string): CheckpointSigner {
  const what = 'audit signing key (audit.signingKeyFile)';
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(readKeyFile(file, what));
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw notEd25519(file, what, err);
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') throw notEd25519(file, what);
  const publicKey = createPublicKey(privateKey);
  return {
    keyId: keyIdOf(publicKey),
    publicKey,
    sign: (payload) => sign(null, Buffer.from(payload, 'utf8'), privateKey).toString('base64'),
  };
}

export function loadPublicKey(file: string): KeyObject {
  const what = 'audit public key';
  let key: KeyObject;
  try {
    key = createPublicKey(readKeyFile(file, what));
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw notEd25519(file, what, err);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw notEd25519(file, what);
  return key;
}

export function keyRing(keys: readonly KeyObject[]): KeyRing {
  return new Map(keys.map((key) => [keyIdOf(key), key]));
}

export function generateSigningKeyPair(): { privatePem: string; publicPem: string; keyId: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privatePem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    publicPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    keyId: keyIdOf(publicKey),
  };
}

/** What is signed: the canonical JSON of every field but the signature. */
export function checkpointPayload(checkpoint: Omit<Checkpoint, 'signature'> & { signature?: unknown }): string {
  const { signature: _signature, ...signed } = checkpoint;
  return canonicalJson(signed);
}

export type SignatureCheck = 'valid' | 'invalid' | 'unsigned' | 'unknown_key';

export function checkSignature(checkpoint: Checkpoint, keys: KeyRing): SignatureCheck {
  if (checkpoint.signature === null || checkpoint.keyId === null) return 'unsigned';
  const key = keys.get(checkpoint.keyId);
  if (!key) return 'unknown_key';
  try {
    return verify(
      null,
      Buffer.from(checkpointPayload(checkpoint), 'utf8'),
      key,
      Buffer.from(checkpoint.signature, 'base64'),
    )
      ? 'valid'
      : 'invalid';
  } catch {
    return 'invalid';
  }
}
