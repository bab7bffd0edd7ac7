// The pieces of undici the copier uses, loaded from undici's own modules rather than its index so that the
// bundle leaves out fetch, WebSocket, mocks and caches (it must fit a ConfigMap). Types come from undici's typings.

import type { Agent as AgentType, Dispatcher, ProxyAgent as ProxyAgentType } from "undici";

/* eslint-disable @typescript-eslint/no-require-imports */
const AgentImpl: typeof AgentType = require("undici/lib/dispatcher/agent");
const ProxyAgentImpl: typeof ProxyAgentType = require("undici/lib/dispatcher/proxy-agent");
const DispatcherImpl: (new () => Dispatcher) & { prototype: { connect?: unknown } } = require("undici/lib/dispatcher/dispatcher");
// undici's index attaches its API methods to every dispatcher; ProxyAgent opens tunnels with `connect`.
DispatcherImpl.prototype.connect ??= require("undici/lib/api/api-connect");
const apiRequest: (this: Dispatcher, opts: Dispatcher.RequestOptions) => Promise<Dispatcher.ResponseData> = require("undici/lib/api/api-request");
/* eslint-enable @typescript-eslint/no-require-imports */

export const Agent = AgentImpl;
export type Agent = AgentType;
export const ProxyAgent = ProxyAgentImpl;
export type ProxyAgent = ProxyAgentType;
/** undici's abstract Dispatcher, to extend with a custom `dispatch`. */
export const DispatcherBase = DispatcherImpl;
export type { Dispatcher };

export interface RequestOptions {
  method: Dispatcher.HttpMethod;
  headers?: Record<string, string>;
  body?: Dispatcher.DispatchOptions["body"];
  dispatcher: Dispatcher;
  signal?: AbortSignal;
}

export function request(url: URL, opts: RequestOptions): Promise<Dispatcher.ResponseData> {
  return apiRequest.call(opts.dispatcher, {
    origin: url.origin,
    path: `${url.pathname}${url.search}`,
    method: opts.method,
    headers: opts.headers,
    body: opts.body ?? undefined,
    signal: opts.signal,
    // undici closes the connection after every HEAD unless told otherwise; keep it (HEADs are most requests).
    reset: false,
  } as Dispatcher.RequestOptions);
}
