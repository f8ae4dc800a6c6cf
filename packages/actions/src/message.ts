import { type Family, routingKey } from '@cmq/common';

/** The body of an action message on `cmq.actions`: a pointer to the row, plus what a reader needs. */
export interface ActionMessage {
  id: string;
  tenant: string;
  type: string;
  args: Record<string, unknown>;
}

export interface OutgoingMessage {
  routingKey: string;
  body: Buffer;
  messageId: string;
}

/** Encodes an action row for publishing (routing key `<family>.<type>.<tenant>`). */
export function encodeAction(row: {
  id: string;
  tenant_id: string;
  type: string;
  family: Family;
  args: unknown;
}): OutgoingMessage {
  const message: ActionMessage = {
    id: row.id,
    tenant: row.tenant_id,
    type: row.type,
    args: (row.args ?? {}) as Record<string, unknown>,
  };
  return {
    routingKey: routingKey(row.family, row.type, row.tenant_id),
    body: Buffer.from(JSON.stringify(message)),
    messageId: row.id,
  };
}
