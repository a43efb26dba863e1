// Package reconcile runs bindsync's passes and its loop.
//
// One pass (Reconciler.RunOnce):
//
//  1. List the observed bindings: one ListBindAccount per managed scope and
//     cloud code. If any list fails the pass stops: no plan is made from a
//     partial picture.
//  2. Plan with the pure plan.Compute (policy, conflicts, safety gate).
//  3. If the gate blocks the plan, apply nothing and report it.
//  4. Apply every change through a bounded pool of workers. Every API attempt
//     waits on one shared AdaptiveLimiter, which halves its rate when the API
//     throttles and recovers it slowly. A change that fails is retried in a
//     later pass on a growing per-binding schedule, never blocking others.
//     Dry-run stops here, in exactly one place, just before the mutating call.
//  5. Report counts by operation and outcome, failures with their class, and
//     metrics.
//
// The loop (Reconciler.Run) runs a pass at once, then whenever a new desired
// state arrives, a reload is requested, or the resync interval (with jitter)
// elapses. Passes never overlap; requests arriving during a pass coalesce
// into one more pass.
package reconcile
