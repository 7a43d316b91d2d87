//! rtnetlink(7): how a program asks the kernel for links, addresses and
//! routes (what `ip link`, `ip addr` and `ip route` do underneath). The
//! messages are typed values of the netlink-packet-route crate, sent on
//! a netlink socket (netlink-sys) and answered with an ACK or an errno.
//!
//! A netlink socket talks to the network namespace it was *created* in,
//! wherever its holder goes later: rd opens one in the host's namespace
//! before clone(2), and the container's child, already in its own
//! namespace, uses it to attach its veth's host end to the bridge.

use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsRawFd, FromRawFd, RawFd};

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL,
    NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
use nix::errno::Errno;

/// A NETLINK_ROUTE socket, in the namespace it was opened in.
pub struct Netlink {
    socket: Socket,
    seq: u32,
}

fn io_errno(e: std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}

impl Netlink {
    /// Opens a socket in the caller's current network namespace.
    pub fn open() -> Result<Netlink, Errno> {
        let mut socket = Socket::new(NETLINK_ROUTE).map_err(io_errno)?;
        socket.bind_auto().map_err(io_errno)?;
        socket.connect(&SocketAddr::new(0, 0)).map_err(io_errno)?;
        Ok(Netlink { socket, seq: 0 })
    }

    /// The same socket through a descriptor inherited across clone(2).
    ///
    /// # Safety
    /// `fd` must be an open NETLINK_ROUTE socket that nothing else owns.
    pub unsafe fn from_fd(fd: RawFd) -> Netlink {
        // SAFETY: the caller passes an open netlink socket it gives up.
        let socket = unsafe { Socket::from_raw_fd(fd) };
        Netlink { socket, seq: 0 }
    }

    pub fn as_raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }

    /// Gives the descriptor up (the child's copy must outlive this value).
    pub fn into_raw_fd(self) -> RawFd {
        let fd = self.socket.as_raw_fd();
        std::mem::forget(self);
        fd
    }

    /// Sends one request and waits for its ACK (or its errno).
    fn request(&mut self, msg: RouteNetlinkMessage, flags: u16) -> Result<(), Errno> {
        self.seq += 1;
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
        header.sequence_number = self.seq;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::from(msg));
        packet.finalize();
        let mut buf = vec![0u8; packet.buffer_len()];
        packet.serialize(&mut buf);
        self.socket.send(&buf, 0).map_err(io_errno)?;
        loop {
            let mut reply = Vec::with_capacity(8192);
            self.socket.recv(&mut reply, 0).map_err(io_errno)?;
            let mut offset = 0;
            while offset < reply.len() {
                let msg = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&reply[offset..])
                    .map_err(|_| Errno::EBADMSG)?;
                let len = msg.header.length as usize;
                if msg.header.sequence_number == self.seq {
                    if let NetlinkPayload::Error(e) = msg.payload {
                        return match e.code {
                            None => Ok(()),
                            Some(code) => Err(Errno::from_raw(-code.get())),
                        };
                    }
                }
                if len == 0 {
                    break;
                }
                offset += len;
            }
        }
    }

    /// A link's index by name (if_nametoindex(3) asks through ioctls in
    /// the *current* namespace; this asks the socket's).
    pub fn index(&mut self, name: &str) -> Result<u32, Errno> {
        self.seq += 1;
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST;
        header.sequence_number = self.seq;
        let mut packet = NetlinkMessage::new(
            header,
            NetlinkPayload::from(RouteNetlinkMessage::GetLink(msg)),
        );
        packet.finalize();
        let mut buf = vec![0u8; packet.buffer_len()];
        packet.serialize(&mut buf);
        self.socket.send(&buf, 0).map_err(io_errno)?;
        let mut reply = Vec::with_capacity(16384);
        self.socket.recv(&mut reply, 0).map_err(io_errno)?;
        let msg = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&reply)
            .map_err(|_| Errno::EBADMSG)?;
        match msg.payload {
            NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(link)) => {
                Ok(link.header.index)
            }
            NetlinkPayload::Error(e) => Err(e
                .code
                .map(|c| Errno::from_raw(-c.get()))
                .unwrap_or(Errno::ENODEV)),
            _ => Err(Errno::EBADMSG),
        }
    }

    /// `ip link add NAME type bridge`.
    pub fn add_bridge(&mut self, name: &str) -> Result<(), Errno> {
        let mut msg = LinkMessage::default();
        msg.attributes = vec![
            LinkAttribute::IfName(name.to_string()),
            LinkAttribute::LinkInfo(vec![LinkInfo::Kind(InfoKind::Bridge)]),
        ];
        self.request(RouteNetlinkMessage::NewLink(msg), NLM_F_CREATE | NLM_F_EXCL)
    }

    /// `ip link add NAME type veth peer name PEER netns PEER_NETNS`: both
    /// ends at once, the peer born in another namespace (by descriptor).
    pub fn add_veth(&mut self, name: &str, peer: &str, peer_netns: RawFd) -> Result<(), Errno> {
        let mut peer_msg = LinkMessage::default();
        peer_msg.attributes = vec![
            LinkAttribute::IfName(peer.to_string()),
            LinkAttribute::NetNsFd(peer_netns),
        ];
        let mut msg = LinkMessage::default();
        msg.attributes = vec![
            LinkAttribute::IfName(name.to_string()),
            LinkAttribute::LinkInfo(vec![
                LinkInfo::Kind(InfoKind::Veth),
                LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer_msg))),
            ]),
        ];
        self.request(RouteNetlinkMessage::NewLink(msg), NLM_F_CREATE | NLM_F_EXCL)
    }

    /// `ip link set LINK [master MASTER] up`.
    pub fn set_up(&mut self, link: u32, master: Option<u32>) -> Result<(), Errno> {
        let mut msg = LinkMessage::default();
        msg.header.index = link;
        msg.header.flags = LinkFlags::Up;
        msg.header.change_mask = LinkFlags::Up;
        if let Some(m) = master {
            msg.attributes.push(LinkAttribute::Controller(m));
        }
        self.request(RouteNetlinkMessage::SetLink(msg), 0)
    }

    /// `ip link del LINK`.
    pub fn delete(&mut self, link: u32) -> Result<(), Errno> {
        let mut msg = LinkMessage::default();
        msg.header.index = link;
        self.request(RouteNetlinkMessage::DelLink(msg), 0)
    }

    /// `ip addr add ADDR/PREFIX dev LINK`.
    pub fn add_address(&mut self, link: u32, addr: Ipv4Addr, prefix: u8) -> Result<(), Errno> {
        let mut msg = AddressMessage::default();
        msg.header.family = AddressFamily::Inet;
        msg.header.prefix_len = prefix;
        msg.header.index = link;
        msg.attributes = vec![
            AddressAttribute::Local(IpAddr::V4(addr)),
            AddressAttribute::Address(IpAddr::V4(addr)),
        ];
        self.request(
            RouteNetlinkMessage::NewAddress(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }

    /// `ip route add default via GATEWAY`.
    pub fn add_default_route(&mut self, gateway: Ipv4Addr) -> Result<(), Errno> {
        let mut msg = RouteMessage::default();
        msg.header.address_family = AddressFamily::Inet;
        msg.header.table = libc::RT_TABLE_MAIN;
        msg.header.protocol = RouteProtocol::Boot;
        msg.header.scope = RouteScope::Universe;
        msg.header.kind = RouteType::Unicast;
        msg.attributes = vec![RouteAttribute::Gateway(RouteAddress::Inet(gateway))];
        self.request(
            RouteNetlinkMessage::NewRoute(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }
}
