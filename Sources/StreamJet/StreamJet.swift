/// StreamJet: the Jet-style stream processor over the log (issue #4). This module currently only
/// reserves its place in the package layout; its API lands with that issue.
public enum StreamJet {}
