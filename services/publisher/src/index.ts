export { ConfirmGates, type ConfirmGatesOptions } from './confirm-gates';
export { FamilyBackoff, type FamilyBackoffOptions, REOPEN_AFTER, REOPEN_EVERY } from './family-backoff';
export { HistoryKeeper, type HistoryKeeperOptions } from './history-keeper';
