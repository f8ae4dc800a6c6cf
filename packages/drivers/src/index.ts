export * from './driver';
export * from './errors';
export * from './ec2-errors';
export * from './ec2-driver';
export * from './ec2-driver-options';
export * from './rate-limiter';
export * from './rate-limiter-options';
export * from './rate-limited-driver';
