export * from './cobbler-client';
export * from './ipmitool';
