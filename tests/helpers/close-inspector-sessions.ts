// Jest setup (every test file): disconnects the inspector sessions a test file opened.
// The Pulumi SDK's closure serializer (a dynamic resource, serializeFunction) connects an inspector session with
// the Debugger enabled, once per copy of the SDK; jest gives every test file its own copy, so each such file left
// one behind. With the Debugger on, every script any later file loads stays alive: the worker's heap grew to
// ~500 MB and its exit at the end of the suite took longer than jest waits ("A worker process has failed to exit
// gracefully and has been force exited").
import { Session } from "node:inspector";

const TRACKED = Symbol.for("images-copier.inspector-sessions");
type TrackedSession = typeof Session & { [TRACKED]?: Set<Session> };

/** The sessions connected in this worker; `Session` is shared by every test file (core modules are not sandboxed). */
function trackSessions(): Set<Session> {
  const shared = Session as TrackedSession;
  if (shared[TRACKED]) return shared[TRACKED];
  const sessions = new Set<Session>();
  const connect = Session.prototype.connect;
  Session.prototype.connect = function (this: Session) {
    sessions.add(this);
    return connect.call(this);
  };
  shared[TRACKED] = sessions;
  return sessions;
}

const sessions = trackSessions();

afterAll(() => {
  for (const session of sessions) session.disconnect();
  sessions.clear();
});
