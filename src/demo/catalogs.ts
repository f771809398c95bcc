import type { CatalogInput } from '../domain/catalog.ts';

const eur = (amount: number) => ({ amount, currency: 'eur' });

/** The five reference products; ids are part of the contract (scripts and docs rely on them). */
export const DEMO_CATALOGS: Record<string, { name: string; catalog: CatalogInput }> = {
  aurisvoice: {
    name: 'AurisVoice',
    catalog: {
      name: 'AurisVoice',
      currency: 'eur',
      theme: { name: 'AurisVoice', primary_color: '#6d28d9' },
      signup_credits: 10,
      low_balance_threshold: 5,
      features: [
        {
          id: 'dubbing_seconds',
          name: 'Dubbing',
          type: 'credits',
          unit: 'second',
          credit_cost: { credits: 1, per: 10, rounding: 'up' },
        },
      ],
      credit_packs: [
        // 10 seconds of dubbing per credit: 2.5, 10 and 25 minutes.
        { id: 'starter', name: 'Starter', credits: 15, price: eur(500), unit: { label: 'minutes of dubbing', per_credit: 10 / 60 } },
        { id: 'pro', name: 'Pro', credits: 60, price: eur(1500), popular: true, unit: { label: 'minutes of dubbing', per_credit: 10 / 60 } },
        { id: 'premium', name: 'Premium', credits: 150, price: eur(3000), unit: { label: 'minutes of dubbing', per_credit: 10 / 60 } },
      ],
    },
  },
  arkwatch: {
    name: 'ArkWatch',
    catalog: {
      name: 'ArkWatch',
      currency: 'eur',
      theme: { name: 'ArkWatch', primary_color: '#0f766e' },
      features: [
        { id: 'watches', name: 'Watched sites', type: 'allocated', unit: 'site' },
        { id: 'check_interval_min', name: 'Check interval (minutes)', type: 'value' },
      ],
      free_plan: 'free',
      plans: [
        {
          id: 'free',
          name: 'Free',
          price: eur(0),
          interval: 'month',
          features: { watches: { limit: 3 }, check_interval_min: { value: 60 } },
        },
        {
          id: 'starter',
          name: 'Starter',
          price: eur(900),
          interval: 'month',
          trial_days: 14,
          trial_requires_card: false,
          features: { watches: { limit: 10 }, check_interval_min: { value: 15 } },
        },
        {
          id: 'pro',
          name: 'Pro',
          price: eur(2900),
          interval: 'month',
          trial_days: 14,
          trial_requires_card: false,
          popular: true,
          features: { watches: { limit: 100 }, check_interval_min: { value: 5 } },
        },
        {
          id: 'business',
          name: 'Business',
          price: eur(9900),
          interval: 'month',
          trial_days: 14,
          trial_requires_card: false,
          features: { watches: { limit: 1000 }, check_interval_min: { value: 1 } },
        },
      ],
      coupons: [{ id: 'early2024', code: 'EARLY2024', percent_off: 20, duration: 'repeating', duration_in_months: 3 }],
    },
  },
  iacompagnon: {
    name: 'IAcompagnon',
    catalog: {
      name: 'IAcompagnon',
      currency: 'eur',
      locale: 'fr',
      theme: { name: 'IAcompagnon', primary_color: '#db2777' },
      features: [
        { id: 'messages', name: 'Messages per month', type: 'metered', unit: 'message' },
        { id: 'voice_chat', name: 'Voice chat', type: 'boolean' },
        { id: 'memory_days', name: 'Memory (days)', type: 'value' },
      ],
      plans: [
        {
          id: 'basique',
          name: 'Basique',
          price: eur(499),
          interval: 'month',
          features: { messages: { limit: 300, reset: 'period' }, voice_chat: false, memory_days: { value: 7 } },
        },
        {
          id: 'standard',
          name: 'Standard',
          price: eur(999),
          interval: 'month',
          popular: true,
          features: { messages: { limit: 2000, reset: 'period' }, voice_chat: true, memory_days: { value: 30 } },
        },
        {
          id: 'premium',
          name: 'Premium',
          price: eur(1999),
          interval: 'month',
          trial_days: 14,
          features: { messages: { limit: null, reset: 'period' }, voice_chat: true, memory_days: { value: 365 } },
        },
      ],
      default_trial: { plan: 'premium', days: 14 },
    },
  },
  webox: {
    name: 'Webox',
    catalog: {
      name: 'Webox',
      currency: 'eur',
      theme: { name: 'Webox', primary_color: '#ea580c' },
      products: [
        { id: 'prompt-pack-marketing', name: 'Marketing prompt pack', price: eur(1900), stock: 25, category: 'prompts' },
        { id: 'ai-avatar-studio', name: 'AI avatar studio session', price: eur(4900), stock: 25, category: 'services' },
        { id: 'voice-clone-kit', name: 'Voice clone kit', price: eur(2900), stock: 25, category: 'audio' },
        { id: 'chatbot-template', name: 'Chatbot template', price: eur(3900), stock: 25, category: 'templates' },
        { id: 'dataset-starter', name: 'Starter fine-tuning dataset', price: eur(9900), stock: 25, category: 'data' },
        {
          id: 'ebook-ai-business',
          name: 'E-book: building an AI business',
          price: eur(1200),
          stock: null,
          digital: true,
          category: 'books',
        },
      ],
    },
  },
  ava: {
    name: 'Ava',
    catalog: {
      name: 'Ava',
      currency: 'eur',
      theme: { name: 'Ava', primary_color: '#2563eb' },
      features: [
        { id: 'seats', name: 'Seats', type: 'allocated', unit: 'seat' },
        { id: 'assistants', name: 'Assistants', type: 'allocated' },
        { id: 'call_minutes', name: 'Call minutes per month', type: 'metered', unit: 'minute' },
      ],
      free_plan: 'free',
      plans: [
        {
          id: 'free',
          name: 'Free',
          price: eur(0),
          interval: 'month',
          features: { seats: { limit: 1 }, assistants: { limit: 1 }, call_minutes: { limit: 30, reset: 'period' } },
        },
        {
          id: 'pro',
          name: 'Pro',
          price: eur(4900),
          interval: 'month',
          per_seat: true,
          trial_days: 14,
          trial_requires_card: true,
          features: { seats: { limit: null }, assistants: { limit: 10 }, call_minutes: { limit: 2000, reset: 'period' } },
        },
      ],
      onboarding: {
        steps: [
          { id: 'vapi', name: 'Connect Vapi' },
          { id: 'twilio', name: 'Connect Twilio', optional: true },
          { id: 'assistant', name: 'Configure the assistant' },
        ],
      },
      secrets: [
        { name: 'vapi_api_key', label: 'Vapi API key' },
        { name: 'twilio_account_sid', label: 'Twilio account SID' },
        { name: 'twilio_auth_token', label: 'Twilio auth token' },
      ],
      settings_schema: {
        studio: {
          type: 'object',
          additionalProperties: false,
          properties: {
            plan: { type: 'string', maxLength: 64 },
            persona: { type: 'string', maxLength: 2000 },
            job_to_be_done: { type: 'string', maxLength: 2000 },
            languages: { type: 'array', items: { type: 'string', maxLength: 20 }, maxItems: 20 },
            tone: { type: 'string', enum: ['friendly', 'formal', 'neutral', 'playful', 'professional'] },
            guidelines: { type: 'string', maxLength: 10000 },
            strategy: { type: 'string', maxLength: 2000 },
            number: { type: 'string', pattern: '^\\+[1-9][0-9]{6,14}$' },
            // The Ava app sends a line of text ("Mon–Fri 9:00–18:00"); the structured form is kept too.
            business_hours: {
              type: ['string', 'object'],
              maxLength: 500,
              properties: {
                timezone: { type: 'string' },
                days: { type: 'array', items: { type: 'string' } },
                open: { type: 'string', pattern: '^[0-2][0-9]:[0-5][0-9]$' },
                close: { type: 'string', pattern: '^[0-2][0-9]:[0-5][0-9]$' },
              },
            },
            fallback_email: { type: 'string', format: 'email' },
            calendar: { type: ['string', 'object'], maxLength: 200 },
            workspace_apps: { type: 'array', items: { type: 'string' } },
            crm: { type: ['string', 'object'], maxLength: 200 },
          },
        },
      },
    },
  },
};
