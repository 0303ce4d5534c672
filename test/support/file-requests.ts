import { clientMessage, encode, type ClientMessage } from '#shared/protocol/index.js';

export type FileRequest = Extract<ClientMessage, { $: 'FileRequest' }>['v'];

/** Open options for reading or (with `write`) for writing. */
export const openOptions = (write = false) => ({
  read: !write,
  write,
  append: false,
  truncate: false,
  create: false,
  create_new: false,
});

/** `FileRequest::Open` of `path`, for reading or (with `write`) for writing, as the layer sends it. */
export const openRequest = (path: string, write = false): FileRequest => ({
  $: 'Open',
  v: { path, open_options: openOptions(write) },
});

/** The same, as the client's frame on the wire. */
export const openFrame = (path: string, write = false): Uint8Array =>
  encode(clientMessage, { $: 'FileRequest', v: openRequest(path, write) });
