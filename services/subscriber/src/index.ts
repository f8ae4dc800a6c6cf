export { Batcher } from './batcher';
export { ClaimBatches } from './claims';
export { classify } from './delivery';
export { retryDatabaseStep } from './database-retry';
export { HANDLERS, type HandlerTable } from './handlers';
export { type GateDecision, type GatedAction, gate } from './run-gate';
export {
  type DecidedAction,
  type FailedRun,
  type FailureDecision,
  type RetryPolicy,
  failureOutcome,
  resultOutcome,
} from './outcome-decision';
export { type HandlerRunOptions, type RunReport, runHandler } from './handler-run';
export type { HandlerContext } from './handlers';
export { Executor, type ExecutorOptions } from './executor';
export { type HandlerServices, handlerServices } from './handler-services';
export { type ReportedRun, reportOutcome } from './outcome-report';
