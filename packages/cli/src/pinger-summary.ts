/** The pinger summary's reader lives in @cmq/actions (the console reads it too). */
export { type FamilyHealth, type StoredSummary, type WaitingProcess, parseSummary } from '@cmq/actions';
