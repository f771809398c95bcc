import nodemailer from 'nodemailer';

export interface OutgoingMail {
  from: string;
  to: string;
  subject: string;
  text: string;
  html: string;
  messageId: string;
  attachments: { filename: string; contentType: string; content: Buffer }[];
}

/** SMTP timeouts: a server that does not answer fails the attempt, which is retried later. */
const TIMEOUTS = { connectionTimeout: 15_000, greetingTimeout: 15_000, socketTimeout: 30_000 };

/** Sends one message over SMTP (`smtp://user:pass@host:port`, or `smtps://` for implicit TLS). */
export async function sendMail(url: string, m: OutgoingMail): Promise<{ ok: true; messageId: string } | { ok: false; error: string }> {
  const transport = nodemailer.createTransport({ url, ...TIMEOUTS });
  try {
    const info = await transport.sendMail(m);
    if (info.rejected && info.rejected.length > 0) return { ok: false, error: `rejected: ${info.rejected.join(', ')}` };
    return { ok: true, messageId: String(info.messageId ?? m.messageId) };
  } catch (err) {
    return { ok: false, error: err instanceof Error ? err.message : String(err) };
  } finally {
    transport.close();
  }
}
