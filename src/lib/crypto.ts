import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { EncryptionKey } from '../config.ts';

/**
 * AES-256-GCM with a random 96-bit nonce. The associated data binds a ciphertext to its row
 * (project, customer, name...), so it cannot be moved elsewhere and still decrypt.
 * Format: `v1:<key id>:<base64 nonce>:<base64 ciphertext>:<base64 tag>`.
 */
export function encrypt(keys: EncryptionKey[], plaintext: string, aad: string): string {
  const key = keys[0];
  if (!key) throw new Error('no encryption key configured');
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key.key, nonce);
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return `v1:${key.id}:${nonce.toString('base64')}:${ct.toString('base64')}:${cipher.getAuthTag().toString('base64')}`;
}

export class DecryptError extends Error {}

export function keyIdOf(ciphertext: string): string {
  return ciphertext.split(':')[1] ?? '';
}

export function decrypt(keys: EncryptionKey[], ciphertext: string, aad: string): string {
  const [v, keyId, nonce, ct, tag] = ciphertext.split(':');
  if (v !== 'v1' || !keyId || !nonce || ct === undefined || !tag) throw new DecryptError('malformed ciphertext');
  const key = keys.find((k) => k.id === keyId);
  if (!key) throw new DecryptError(`encryption key '${keyId}' is not configured`);
  try {
    const decipher = createDecipheriv('aes-256-gcm', key.key, Buffer.from(nonce, 'base64'));
    decipher.setAAD(Buffer.from(aad, 'utf8'));
    decipher.setAuthTag(Buffer.from(tag, 'base64'));
    return Buffer.concat([decipher.update(Buffer.from(ct, 'base64')), decipher.final()]).toString('utf8');
  } catch {
    throw new DecryptError('ciphertext does not authenticate (wrong key or moved row)');
  }
}

/** A safe preview of a secret: its first few characters and an ellipsis (`sk-abc1…`). */
export function preview(value: string, shown = 6): string {
  if (value.length <= shown + 2) return `${value.slice(0, 2)}…`;
  return `${value.slice(0, shown)}…`;
}
