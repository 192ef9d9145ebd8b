"""The shared reads, by capability. Every list or page of cases reads through here, with the actor's row
scope (permissions.visible_cases) always applied and a fixed number of queries. Import from the
module of the capability (`selectors.cases`, `.worklist`, `.supervisor`, `.contacts`, `.book`,
`.dashboard`): this package re-exports nothing."""
