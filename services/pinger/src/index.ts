export * from './canary';
export * from './heartbeat-probe';
export * from './lease';
export * from './pinger';
export * from './queue-health';
