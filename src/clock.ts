// Time comes from a Clock so expiry, budgets and timestamps are testable without sleeping.

export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
