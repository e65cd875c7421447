/// What an unmount job found at a path no process of the agent serves.
package enum MountClearing: Sendable, Equatable {
    case nothingMounted
    /// A FUSE mount whose server was gone, cleared.
    case clearedDead(String)
    /// A live FUSE mount this agent did not start, unmounted because the job asked for it.
    case unmountedLive(String)
}
