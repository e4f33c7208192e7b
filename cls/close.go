package cls

// Close deletes every filter of the hook (their counters and the actions
// bound to them go back as with Flush) and takes the hook's counter set
// out of its domain: for a device that is deleted. The caller has already
// unpublished the hook's block and waited for the workers' grace period
// (a worker that still ran a filter may count into its cell until then).
func (c *Chains) Close() {
	c.Flush()
	c.ReleaseDead()
	c.cells.Close()
}
