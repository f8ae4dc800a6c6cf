export type { AuthDeps, Principal, Role } from './types';
export { registerAuth, type RegisterAuthOptions } from './register';
export { csrfTokenOf, requireRole, roleAtLeast, tenantScope } from './roles';
export { SESSION_COOKIE } from './authenticate';
