/// The order-delivery simulator (issue #6). This module currently only reserves its place in the
/// package layout; its API lands with that issue.
public enum Simulator {}
