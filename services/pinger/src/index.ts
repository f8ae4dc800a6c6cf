export * from './canary';
export * from './lease';
export * from './pinger';
export * from './queue-health';
export * from './reaper';
