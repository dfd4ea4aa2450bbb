package docker

// SetOnBatch lets tests see what each restore batch wrote into the volume.
func SetOnBatch(a *Activities, f func(from, to int)) { a.onBatch = f }
