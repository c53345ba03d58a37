// The port pool: each source address's ports, handed out round-robin, skipping those this child holds.

package flood

// portPool hands out the ports of one source address, round-robin, skipping ports this child holds.
type portPool struct {
	lo, n  int
	used   []uint64 // bitmap
	inUse  int
	cursor int
}

func newPortPool(lo, hi int) portPool {
	n := hi - lo + 1
	return portPool{lo: lo, n: n, used: make([]uint64, (n+63)/64)}
}

func (p *portPool) take() (int, bool) {
	if p.inUse >= p.n {
		return 0, false
	}
	for range p.n {
		k := p.cursor
		if p.cursor++; p.cursor == p.n {
			p.cursor = 0
		}
		if p.used[k/64]&(1<<(k%64)) == 0 {
			p.used[k/64] |= 1 << (k % 64)
			p.inUse++
			return p.lo + k, true
		}
	}
	return 0, false
}

func (p *portPool) release(port int) {
	k := port - p.lo
	if k < 0 || k >= p.n || p.used[k/64]&(1<<(k%64)) == 0 {
		return
	}
	p.used[k/64] &^= 1 << (k % 64)
	p.inUse--
}

// takePort picks the next source address round-robin and a free port on it.
func (c *child) takePort() (int, int, bool) {
	for range c.srcs {
		si := c.nextSrc
		if c.nextSrc++; c.nextSrc == len(c.srcs) {
			c.nextSrc = 0
		}
		if port, ok := c.pools[si].take(); ok {
			return si, port, true
		}
	}
	return 0, 0, false
}
