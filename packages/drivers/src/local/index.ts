export { LocalDriver } from './local-driver';
export type { LocalDriverOptions } from './options';
export { LOCAL_NOT_FOUND } from './local-errors';
