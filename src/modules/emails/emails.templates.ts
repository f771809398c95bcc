import { type EmailTemplate, fillPlaceholders } from '../../domain/emails.ts';

export type EmailLocale = 'en' | 'fr';

/** The customer's language if Tollgate has it, else the project's, else English. */
export function pickEmailLocale(...candidates: unknown[]): EmailLocale {
  for (const c of candidates) {
    if (typeof c !== 'string') continue;
    const lang = c.toLowerCase().split(/[-_]/)[0];
    if (lang === 'en' || lang === 'fr') return lang;
  }
  return 'en';
}

interface Wording {
  subject: string;
  /** Paragraphs separated by a blank line; a paragraph naming a placeholder without a value is left out. */
  text: string;
  /** A button in the HTML part, shown when the placeholder it links to has a value. */
  button?: { label: string; url: string };
}

const T: Record<EmailTemplate, Record<EmailLocale, Wording>> = {
  welcome: {
    en: {
      subject: 'Welcome to {{project_name}}',
      text: 'Hello {{customer_name}},\n\nThanks for joining {{project_name}}: your account is ready.\n\nIf you have a question, just reply to this e-mail.',
    },
    fr: {
      subject: 'Bienvenue chez {{project_name}}',
      text: "Bonjour {{customer_name}},\n\nMerci d'avoir rejoint {{project_name}} : votre compte est prêt.\n\nUne question ? Répondez simplement à cet e-mail.",
    },
  },
  receipt: {
    en: {
      subject: 'Receipt for your payment of {{amount}}',
      text: 'Hello {{customer_name}},\n\nWe received your payment of {{amount}} on {{date}}. Thank you!\n\nInvoice {{invoice_number}} is attached to this e-mail as a PDF.',
    },
    fr: {
      subject: 'Reçu de votre paiement de {{amount}}',
      text: 'Bonjour {{customer_name}},\n\nNous avons bien reçu votre paiement de {{amount}} le {{date}}. Merci !\n\nLa facture {{invoice_number}} est jointe à cet e-mail au format PDF.',
    },
  },
  trial_will_end: {
    en: {
      subject: 'Your {{plan_name}} trial ends in {{days_remaining}} days',
      text: 'Hello {{customer_name}},\n\nYour free trial of {{plan_name}} ends on {{trial_end}}. Add a payment method before then to keep your access.',
    },
    fr: {
      subject: 'Votre essai {{plan_name}} se termine dans {{days_remaining}} jours',
      text: "Bonjour {{customer_name}},\n\nVotre essai gratuit de {{plan_name}} se termine le {{trial_end}}. Ajoutez un moyen de paiement d'ici là pour garder votre accès.",
    },
  },
  trial_ended: {
    en: {
      subject: 'Your {{plan_name}} trial has ended',
      text: 'Hello {{customer_name}},\n\nYour free trial of {{plan_name}} ended on {{trial_end}}.\n\n{{next_step}}',
    },
    fr: {
      subject: 'Votre essai {{plan_name}} est terminé',
      text: "Bonjour {{customer_name}},\n\nVotre essai gratuit de {{plan_name}} s'est terminé le {{trial_end}}.\n\n{{next_step}}",
    },
  },
  payment_failed: {
    en: {
      subject: 'Your payment to {{project_name}} failed',
      text: 'Hello {{customer_name}},\n\nWe could not take your latest payment to {{project_name}}.\n\nAmount: {{amount}}\n\nReason: {{reason}}\n\nUpdate your payment method to keep your subscription: {{portal_url}}',
      button: { label: 'Update payment method', url: 'portal_url' },
    },
    fr: {
      subject: "Votre paiement à {{project_name}} n'a pas abouti",
      text: "Bonjour {{customer_name}},\n\nNous n'avons pas pu encaisser votre dernier paiement à {{project_name}}.\n\nMontant : {{amount}}\n\nMotif : {{reason}}\n\nMettez à jour votre moyen de paiement pour garder votre abonnement : {{portal_url}}",
      button: { label: 'Mettre à jour le moyen de paiement', url: 'portal_url' },
    },
  },
  subscription_canceled: {
    en: {
      subject: 'Your {{plan_name}} subscription has ended',
      text: 'Hello {{customer_name}},\n\nYour {{plan_name}} subscription ended on {{ended_at}}.\n\nWe are sorry to see you go. You can subscribe again at any time.',
    },
    fr: {
      subject: 'Votre abonnement {{plan_name}} est terminé',
      text: "Bonjour {{customer_name}},\n\nVotre abonnement {{plan_name}} s'est terminé le {{ended_at}}.\n\nNous sommes désolés de vous voir partir. Vous pouvez vous réabonner à tout moment.",
    },
  },
  subscription_will_end: {
    en: {
      subject: 'Your {{plan_name}} subscription will end on {{period_end}}',
      text: 'Hello {{customer_name}},\n\nAs you asked, your {{plan_name}} subscription will not renew: it ends on {{period_end}}.\n\nChanged your mind? You can resume it until then.',
    },
    fr: {
      subject: 'Votre abonnement {{plan_name}} se termine le {{period_end}}',
      text: "Bonjour {{customer_name}},\n\nComme demandé, votre abonnement {{plan_name}} ne sera pas renouvelé : il se termine le {{period_end}}.\n\nVous avez changé d'avis ? Vous pouvez le reprendre d'ici là.",
    },
  },
  credits_low: {
    en: {
      subject: 'Your {{project_name}} credits are running low',
      text: 'Hello {{customer_name}},\n\nYour balance is down to {{balance}} credits (alert threshold: {{threshold}}).\n\nTop up your credits to keep going without interruption.',
    },
    fr: {
      subject: 'Vos crédits {{project_name}} sont presque épuisés',
      text: "Bonjour {{customer_name}},\n\nVotre solde n'est plus que de {{balance}} crédits (seuil d'alerte : {{threshold}}).\n\nRechargez vos crédits pour continuer sans interruption.",
    },
  },
  order_confirmation: {
    en: {
      subject: 'Order confirmed: {{order_id}}',
      text: 'Hello {{customer_name}},\n\nThank you for your order {{order_id}}. We received your payment of {{total}}.\n\n{{items}}',
    },
    fr: {
      subject: 'Commande confirmée : {{order_id}}',
      text: 'Bonjour {{customer_name}},\n\nMerci pour votre commande {{order_id}}. Nous avons bien reçu votre paiement de {{total}}.\n\n{{items}}',
    },
  },
  // An automatically issued key (docs/api-keys.md): never the key itself (e-mails are kept and travel
  // in clear), a link to the billing portal where the customer reveals it.
  api_key_ready: {
    en: {
      subject: 'Your {{project_name}} API key is ready',
      text: 'Hello {{customer_name}},\n\nWelcome! Your {{project_name}} API key is ready ({{key_preview}}).\n\nFor your security it is not written in this e-mail: open your account and choose "Roll key" to reveal it (it is shown there once): {{portal_url}}',
      button: { label: 'Reveal my API key', url: 'portal_url' },
    },
    fr: {
      subject: 'Votre clé d’API {{project_name}} est prête',
      text: 'Bonjour {{customer_name}},\n\nBienvenue ! Votre clé d’API {{project_name}} est prête ({{key_preview}}).\n\nPour votre sécurité, elle n’est pas écrite dans cet e-mail : ouvrez votre compte et choisissez « Roll key » pour la révéler (elle y est affichée une seule fois) : {{portal_url}}',
      button: { label: 'Révéler ma clé d’API', url: 'portal_url' },
    },
  },
};

/** Wording computed by the composer, per locale. */
export const PHRASES: Record<EmailLocale, Record<'trial_converted' | 'trial_lapsed' | 'footer', string>> = {
  en: {
    trial_converted: 'Your subscription is now active. Thank you for staying with us!',
    trial_lapsed: 'To keep using it, choose a plan from your account.',
    footer: 'You receive this e-mail because you have an account with {{project_name}}.',
  },
  fr: {
    trial_converted: "Votre abonnement est maintenant actif. Merci de votre confiance !",
    trial_lapsed: 'Pour continuer, choisissez une offre depuis votre compte.',
    footer: 'Vous recevez cet e-mail car vous avez un compte chez {{project_name}}.',
  },
};

export interface Brand {
  name: string;
  color: string;
  logoUrl: string | null;
}

export interface Rendered {
  subject: string;
  text: string;
  html: string;
}

const escHtml = (v: string) =>
  v.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');

/** Paragraphs of a text whose placeholders all have a value, filled. */
function paragraphs(text: string, vars: Record<string, string>): string[] {
  return text
    .split(/\n\s*\n/)
    .filter((p) => [...p.matchAll(/\{\{\s*([a-z_]+)\s*\}\}/g)].every((m) => (vars[m[1] as string] ?? '') !== ''))
    .map((p) => fillPlaceholders(p, vars).trim())
    .filter(Boolean);
}

const linkify = (escaped: string, color: string) =>
  escaped.replace(/https?:\/\/[^\s<]+/g, (u) => `<a href="${u}" style="color:${color}">${u}</a>`);

/**
 * One e-mail: the template's wording in the locale (or the project's subject/text override), filled
 * with `vars`, as plain text and as HTML themed with the project's colour, logo and name.
 */
export function renderEmail(
  template: EmailTemplate,
  locale: EmailLocale,
  brand: Brand,
  vars: Record<string, string>,
  override: { subject?: string; text?: string } = {},
): Rendered {
  const w = T[template][locale];
  const subject = fillPlaceholders(override.subject ?? w.subject, vars).replace(/\s+/g, ' ').trim();
  const body = paragraphs(override.text ?? w.text, vars);
  const footer = fillPlaceholders(PHRASES[locale].footer, vars);
  const text = `${body.join('\n\n')}\n\n-- \n${brand.name}\n${footer}\n`;
  const color = /^#[0-9a-fA-F]{6}$/.test(brand.color) ? brand.color : '#4f46e5';
  const buttonUrl = w.button ? (vars[w.button.url] ?? '') : '';
  const head = brand.logoUrl
    ? `<img src="${escHtml(brand.logoUrl)}" alt="${escHtml(brand.name)}" height="32" style="height:32px;border:0;display:block;color:#ffffff;font-size:18px;font-weight:700">`
    : `<span style="font-size:20px;font-weight:700;color:#ffffff">${escHtml(brand.name)}</span>`;
  const html = `<!doctype html>
<html lang="${locale}">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${escHtml(subject)}</title></head>
<body style="margin:0;padding:0;background:#f4f5f7;font-family:-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;color:#111827">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="background:#f4f5f7;padding:24px 12px">
<tr><td align="center">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="max-width:560px;background:#ffffff;border-radius:10px;overflow:hidden;border:1px solid #e5e7eb">
<tr><td style="background:${color};padding:18px 24px">${head}</td></tr>
<tr><td style="padding:24px;font-size:15px;line-height:1.6">
${body.map((p) => `<p style="margin:0 0 14px">${linkify(escHtml(p), color).replace(/\n/g, '<br>')}</p>`).join('\n')}
${
  w.button && buttonUrl
    ? `<p style="margin:22px 0 8px"><a href="${escHtml(buttonUrl)}" style="display:inline-block;background:${color};color:#ffffff;text-decoration:none;font-weight:600;padding:11px 18px;border-radius:8px">${escHtml(w.button.label)}</a></p>`
    : ''
}
</td></tr>
<tr><td style="padding:14px 24px;border-top:1px solid #e5e7eb;font-size:12px;color:#6b7280">${escHtml(brand.name)} · ${escHtml(footer)}</td></tr>
</table>
</td></tr>
</table>
</body>
</html>
`;
  return { subject, text, html };
}
