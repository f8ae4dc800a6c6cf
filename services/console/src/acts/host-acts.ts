import type { FastifyInstance } from 'fastify';
import { requireRole } from '../auth';
import type { ConsoleContext } from '../context';
import { unbound } from './act-common';
import { addGuestAct, guestParams, newGuestForm, toggleGuestAct } from './guest-acts';
import { addNodeAct, editNodeForm, newNodeForm, nodeParam, toggleNodeAct, updateNodeAct } from './node-acts';

/**
 * Nodes and guests from the console, the same code as `cmq nodes` and `cmq guests`, audited.
 * Nodes are the platform's shared hosts: admins bound to no tenant only (a tenant-bound user gets
 * 403 before any node is looked up, so never learns a name). Guests: operators, within their
 * tenant. The private key is a write-only field, encrypted with the console's keyring.
 */
export function registerHostActs(app: FastifyInstance, ctx: ConsoleContext): void {
  const admin = { preHandler: [requireRole('admin'), unbound] };
  const adminOfNode = { preHandler: [requireRole('admin'), unbound, nodeParam] };
  app.get('/nodes/new', admin, (req, reply) => newNodeForm(ctx, req, reply));
  app.post('/nodes', admin, (req, reply) => addNodeAct(ctx, req, reply));
  app.get('/nodes/:name/edit', adminOfNode, (req, reply) => editNodeForm(ctx, req, reply));
  app.post('/nodes/:name', adminOfNode, (req, reply) => updateNodeAct(ctx, req, reply));
  app.post('/nodes/:name/active', adminOfNode, (req, reply) => toggleNodeAct(ctx, req, reply));

  const operator = { preHandler: requireRole('operator') };
  const operatorOfGuest = { preHandler: [requireRole('operator'), guestParams] };
  app.get('/guests/new', operator, (req, reply) => newGuestForm(ctx, req, reply));
  app.post('/guests', operator, (req, reply) => addGuestAct(ctx, req, reply));
  app.post('/guests/:tenant/:id/active', operatorOfGuest, (req, reply) => toggleGuestAct(ctx, req, reply));
}
