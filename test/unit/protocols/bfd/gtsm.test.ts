import test from 'ava'
import { gtsmDropsOf, planGtsm, planGtsmRemoval } from '../../../../src/protocols/bfd/gtsm.js'

const empty = '*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j FABRIC-BFD\nCOMMIT\n'
const installed = '*raw\n:PREROUTING ACCEPT [0:0]\n:FABRIC-BFD - [0:0]\n[0:0] -A PREROUTING -j FABRIC-BFD\n[7:392] -A FABRIC-BFD -p udp -m udp --dport 3784 -m ttl ! --ttl-eq 255 -j DROP\nCOMMIT\n'

test('plans the chain, its rule and one jump; nothing when in place', (t) => {
  t.is(planGtsm(empty, 3784), '*raw\n:FABRIC-BFD - [0:0]\n-A FABRIC-BFD -p udp -m udp --dport 3784 -m ttl ! --ttl-eq 255 -j DROP\n-I PREROUTING 1 -j FABRIC-BFD\nCOMMIT\n')
  t.is(planGtsm(installed, 3784), '')
  // another port: the chain is rewritten, the jump kept
  t.is(planGtsm(installed, 3785), '*raw\n:FABRIC-BFD - [0:0]\n-A FABRIC-BFD -p udp -m udp --dport 3785 -m ttl ! --ttl-eq 255 -j DROP\nCOMMIT\n')
})

test('removal deletes only the jump and the chain; a jump in another table is not ours', (t) => {
  t.is(planGtsmRemoval(installed), '*raw\n-D PREROUTING -j FABRIC-BFD\n:FABRIC-BFD - [0:0]\n-X FABRIC-BFD\nCOMMIT\n')
  t.is(planGtsmRemoval(empty), '')
})

test('reads the drop counter', (t) => {
  t.is(gtsmDropsOf(installed, 3784), 7)
  t.is(gtsmDropsOf(empty, 3784), 0)
})
