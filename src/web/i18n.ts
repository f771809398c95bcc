/** Strings of the hosted pages, per locale (English is the fallback). */
const STRINGS = {
  en: {
    credits_title: 'Your credits',
    balance: 'Balance',
    credits: 'credits',
    available: 'available',
    buy_credits: 'Buy credits',
    buy: 'Buy',
    most_popular: 'Most popular',
    per_credit: 'per credit',
    save: 'Save',
    payment_received: 'Payment received: your credits have been added.',
    payment_processing: 'Payment processing… your balance will update in a moment.',
    payment_not_completed: 'This payment was not completed.',
    payment_canceled: 'Payment canceled.',
    history: 'Recent activity',
    date: 'Date',
    no_history: 'No activity yet.',
    pricing_title: 'Plans and pricing',
    per_month: 'per month',
    per_year: 'per year',
    free: 'Free',
    choose: 'Choose',
    trial: '{n}-day free trial',
    unlimited: 'Unlimited',
    included_credits: '{n} credits included',
    credit_packs: 'Credit packs',
    session_expired: 'This link has expired',
    session_expired_help: 'Return to the app and open this page again.',
    error: 'Something went wrong',
    account_title: 'Your account',
    manage_credits: 'Credits',
    see_plans: 'Plans and pricing',
    still_processing: 'Still processing. Refresh this page in a minute.',
    subscribed: 'You are subscribed.',
    invoices: 'Invoices',
    no_invoices: 'No invoices yet.',
    download_invoice: 'Download invoice {number} (PDF)',
    credit_note: 'credit note',
    total: 'Total',
    pwyw_amount: 'Your amount ({currency})',
    pwyw_range: 'From {min} to {max}',
    pwyw_invalid: 'Enter an amount from {min} to {max}.',
  },
  fr: {
    credits_title: 'Vos crédits',
    balance: 'Solde',
    credits: 'crédits',
    available: 'disponibles',
    buy_credits: 'Acheter des crédits',
    buy: 'Acheter',
    most_popular: 'Le plus choisi',
    per_credit: 'par crédit',
    save: 'Économisez',
    payment_received: 'Paiement reçu : vos crédits ont été ajoutés.',
    payment_processing: 'Paiement en cours de traitement… votre solde sera mis à jour dans un instant.',
    payment_not_completed: "Ce paiement n'a pas abouti.",
    payment_canceled: 'Paiement annulé.',
    history: 'Activité récente',
    date: 'Date',
    no_history: 'Aucune activité pour le moment.',
    pricing_title: 'Offres et tarifs',
    per_month: 'par mois',
    per_year: 'par an',
    free: 'Gratuit',
    choose: 'Choisir',
    trial: "{n} jours d'essai gratuit",
    unlimited: 'Illimité',
    included_credits: '{n} crédits inclus',
    credit_packs: 'Packs de crédits',
    session_expired: 'Ce lien a expiré',
    session_expired_help: "Retournez dans l'application et ouvrez cette page à nouveau.",
    error: 'Une erreur est survenue',
    account_title: 'Votre compte',
    manage_credits: 'Crédits',
    see_plans: 'Offres et tarifs',
    still_processing: 'Toujours en cours. Actualisez cette page dans une minute.',
    subscribed: 'Votre abonnement est actif.',
    invoices: 'Factures',
    no_invoices: 'Aucune facture pour le moment.',
    download_invoice: 'Télécharger la facture {number} (PDF)',
    credit_note: 'avoir',
    total: 'Total',
    pwyw_amount: 'Votre montant ({currency})',
    pwyw_range: 'De {min} à {max}',
    pwyw_invalid: 'Saisissez un montant de {min} à {max}.',
  },
} as const;

export type Locale = keyof typeof STRINGS;
export type StringKey = keyof (typeof STRINGS)['en'];

export function pickLocale(...candidates: unknown[]): Locale {
  for (const c of candidates) {
    if (typeof c !== 'string') continue;
    const lang = c.toLowerCase().split(/[-_]/)[0] ?? '';
    if (lang in STRINGS) return lang as Locale;
  }
  return 'en';
}

export function translator(locale: Locale) {
  const table = STRINGS[locale] as Record<StringKey, string>;
  return (key: StringKey, vars: Record<string, string | number> = {}) =>
    table[key].replace(/\{(\w+)\}/g, (_m, k: string) => String(vars[k] ?? ''));
}
