/** Pure rules of disputes and provider fees (docs/disputes.md); no I/O. */

export type DisputeStatus = 'needs_response' | 'under_review' | 'won' | 'lost';
export type DisputePolicy = 'hold' | 'claw_back' | 'none';
export const DISPUTE_POLICIES = ['hold', 'claw_back', 'none'] as const;
export const DEFAULT_DISPUTE_POLICY: DisputePolicy = 'hold';

const RANK: Record<DisputeStatus, number> = { needs_response: 0, under_review: 1, won: 2, lost: 2 };

export const isClosed = (s: DisputeStatus): boolean => s === 'won' || s === 'lost';

/**
 * Whether a reported status moves a dispute on from where it stands. Disputes only move forward
 * (needs response → under review → won or lost) and a closed one stays closed, so events applied in
 * any order end in the same state: a `created` arriving after `closed` changes nothing.
 */
export function advances(current: DisputeStatus, reported: DisputeStatus): boolean {
  if (isClosed(current)) return false;
  return RANK[reported] > RANK[current];
}

/** The credits a dispute concerns: the disputed share of what the payment bought, rounded down. */
export function disputedCredits(credits: number, paymentAmount: number, disputedAmount: number): number {
  if (credits <= 0 || paymentAmount <= 0) return 0;
  return Math.floor((credits * Math.min(disputedAmount, paymentAmount)) / paymentAmount);
}

/**
 * The sandbox's fee, deterministic so figures can be checked by hand: 2.9 % of the amount (rounded
 * half up) plus 30 minor units, never more than the amount; nothing on a payment of 0.
 */
export function sandboxFee(amount: number): number {
  if (amount <= 0) return 0;
  return Math.min(amount, Math.floor((amount * 29 + 500) / 1000) + 30);
}
