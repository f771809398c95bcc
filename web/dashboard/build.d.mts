export function buildDashboard(opts?: { force?: boolean }): Promise<boolean>;
