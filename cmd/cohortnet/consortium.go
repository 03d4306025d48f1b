package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/spf13/cobra"

	"github.com/cohortnet/cohortnet/consortium"
)

func init() { register(newConsortiumCmd) }

func newConsortiumCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "consortium",
		Short: "Create, edit, sign and install the consortium configuration",
		Long: `The consortium configuration lists the members (peer id, short name, display
name, roles), the ledger operator, the witnesses and their quorum. It is signed
by the consortium key and kept at <data>/consortium.yaml.

Where the consortium key lives, init creates it with a draft; add-member,
set-ledger, add-witness and set-quorum edit the draft; sign signs it as the next
version and installs it. Every other node runs install with the signed file: a
newer version signed by the same key replaces the old one, anything else is
refused.`,
		Example: `  cohortnet consortium init --name "Midwest Cohort Network"
  cohortnet consortium add-member 12D3KooW... --name "Hospital A" --short-name hospital-a --role hospital
  cohortnet consortium set-ledger 12D3KooW... --http http://ledger.example:7400
  cohortnet consortium add-witness 12D3KooW... --http http://witness-a.example:7401
  cohortnet consortium set-quorum 2
  cohortnet consortium sign --out consortium.yaml
  cohortnet --data ~/.cohortnet-b consortium install consortium.yaml`,
	}
	cmd.AddCommand(newConsortiumInitCmd(), newConsortiumAddMemberCmd(), newConsortiumRemoveMemberCmd(),
		newConsortiumAddBootstrapCmd(), newConsortiumSetLedgerCmd(),
		newConsortiumAddWitnessCmd(), newConsortiumSetQuorumCmd(), newConsortiumSignCmd(),
		newConsortiumShowCmd(), newConsortiumInstallCmd())
	return cmd
}

func newConsortiumInitCmd() *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Make the consortium key and sign a first configuration",
		Long: `init creates the consortium key (consortium.key, 0600) in the data directory,
a draft configuration, and version 1 signed and installed here.`,
		Example: `  cohortnet consortium init --name "Midwest Cohort Network"`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := consortium.Init(dataDir(), name)
			if err != nil {
				return err
			}
			if g.json {
				return printJSON(cmd.OutOrStdout(), map[string]any{"name": s.Name, "version": s.Version, "key": s.Key.String()})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "consortium %q created, version 1\nconsortium key %s\n", s.Name, s.Key)
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "display name of the consortium")
	_ = cmd.MarkFlagRequired("name")
	return cmd
}

// editDraft loads the draft, applies edit, saves it and says what to do next.
func editDraft(cmd *cobra.Command, what string, edit func(c *consortium.Config) error) error {
	d := dataDir()
	c, err := consortium.LoadDraft(d)
	if err != nil {
		return err
	}
	if err := edit(c); err != nil {
		return err
	}
	if err := consortium.SaveDraft(d, c); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%s in the draft; run `cohortnet consortium sign` to publish it\n", what)
	return nil
}

func parsePeer(s string) (peer.ID, error) {
	id, err := peer.Decode(s)
	if err != nil {
		return "", fmt.Errorf("peer id %q: %w", s, err)
	}
	return id, nil
}

func newConsortiumAddMemberCmd() *cobra.Command {
	var m consortium.Member
	cmd := &cobra.Command{
		Use:     "add-member PEER",
		Short:   "Add a member to the draft (or update it)",
		Example: `  cohortnet consortium add-member 12D3KooW... --name "Hospital A" --short-name hospital-a --role hospital`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parsePeer(args[0])
			if err != nil {
				return err
			}
			m.Peer = id
			return editDraft(cmd, "member "+m.Name+" added", func(c *consortium.Config) error { return c.AddMember(m) })
		},
	}
	f := cmd.Flags()
	f.StringVar(&m.Name, "name", "", `display name, e.g. "Hospital A"`)
	f.StringVar(&m.ShortName, "short-name", "", "short name that prefixes the member's datasets")
	f.StringSliceVar(&m.Roles, "role", nil, "roles: hospital, researcher, agency, ledger, witness (repeat or comma-separate)")
	_ = cmd.MarkFlagRequired("role")
	return cmd
}

func newConsortiumRemoveMemberCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "remove-member PEER",
		Short:   "Remove a member from the draft",
		Example: `  cohortnet consortium remove-member 12D3KooW...`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parsePeer(args[0])
			if err != nil {
				return err
			}
			return editDraft(cmd, "member removed", func(c *consortium.Config) error {
				if !c.RemoveMember(id) {
					return fmt.Errorf("%s is not a member in the draft", id)
				}
				return nil
			})
		},
	}
}

func newConsortiumAddBootstrapCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "add-bootstrap MULTIADDR",
		Short:   "Add a bootstrap address (ending in /p2p/<peer id>) to the draft",
		Example: `  cohortnet consortium add-bootstrap /ip4/192.0.2.10/tcp/4001/p2p/12D3KooW...`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return editDraft(cmd, "bootstrap address added", func(c *consortium.Config) error { return c.AddBootstrap(args[0]) })
		},
	}
}

func newConsortiumSetLedgerCmd() *cobra.Command {
	var httpURL, origin string
	var addrs []string
	cmd := &cobra.Command{
		Use:   "set-ledger PEER",
		Short: "Name the ledger operator in the draft",
		Long: `set-ledger makes PEER the ledger operator. Its checkpoint verifier key is
derived from its peer id (the operator signs checkpoints with its identity key),
named by the log's origin (default cohortnet.ledger/<consortium name>).`,
		Example: `  cohortnet consortium set-ledger 12D3KooW... --http http://ledger.example:7400`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parsePeer(args[0])
			if err != nil {
				return err
			}
			return editDraft(cmd, "ledger operator set", func(c *consortium.Config) error {
				return c.SetLedger(id, httpURL, origin, addrs)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&httpURL, "http", "", "base URL where the operator serves the log")
	f.StringVar(&origin, "origin", "", "checkpoint origin (default cohortnet.ledger/<consortium name>)")
	f.StringSliceVar(&addrs, "addr", nil, "libp2p multiaddrs of the operator")
	_ = cmd.MarkFlagRequired("http")
	return cmd
}

func newConsortiumAddWitnessCmd() *cobra.Command {
	var httpURL, name string
	cmd := &cobra.Command{
		Use:   "add-witness PEER",
		Short: "Add a witness to the draft (or update it)",
		Long: `add-witness adds PEER as a witness that cosigns the ledger's checkpoints. Its
cosignature key is derived from its peer id; the key name defaults to
witness-<short name> for a member, else the peer id.`,
		Example: `  cohortnet consortium add-witness 12D3KooW... --http http://witness-a.example:7401`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parsePeer(args[0])
			if err != nil {
				return err
			}
			return editDraft(cmd, "witness added", func(c *consortium.Config) error { return c.AddWitness(id, httpURL, name) })
		},
	}
	cmd.Flags().StringVar(&httpURL, "http", "", "base URL of the witness (add-checkpoint is below it)")
	cmd.Flags().StringVar(&name, "name", "", "cosignature key name")
	_ = cmd.MarkFlagRequired("http")
	return cmd
}

func newConsortiumSetQuorumCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "set-quorum N",
		Short:   "Set how many witnesses must cosign a checkpoint",
		Example: `  cohortnet consortium set-quorum 2`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := strconv.Atoi(args[0])
			if err != nil {
				return fmt.Errorf("quorum %q: not a number", args[0])
			}
			return editDraft(cmd, fmt.Sprintf("quorum %d set", n), func(c *consortium.Config) error { return c.SetQuorum(n) })
		},
	}
}

func newConsortiumSignCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "sign",
		Short: "Sign the draft as the next version and install it here",
		Long: `sign signs the draft with the consortium key as the version after the installed
one, installs it in this data directory and, with --out, writes the signed file
to hand to the other nodes (they run consortium install).`,
		Example: `  cohortnet consortium sign --out consortium.yaml`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := consortium.SignDraft(dataDir())
			if err != nil {
				return err
			}
			if out != "" {
				if err := os.WriteFile(out, s.File, 0o644); err != nil {
					return fmt.Errorf("write %s: %w", out, err)
				}
			}
			if g.json {
				return printJSON(cmd.OutOrStdout(), map[string]any{"version": s.Version, "key": s.Key.String(), "file": out})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "signed version %d of %q\n", s.Version, s.Name)
			if out != "" {
				fmt.Fprintf(cmd.OutOrStdout(), "wrote %s\n", out)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "also write the signed file here")
	return cmd
}

func newConsortiumShowCmd() *cobra.Command {
	var draft bool
	cmd := &cobra.Command{
		Use:     "show",
		Short:   "Print the installed configuration (or the draft)",
		Example: "  cohortnet consortium show\n  cohortnet consortium show --draft --json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var c *consortium.Config
			if draft {
				d, err := consortium.LoadDraft(dataDir())
				if err != nil {
					return err
				}
				c = d
			} else {
				s, err := consortium.Load(dataDir())
				if err != nil {
					return err
				}
				c = s.Config
			}
			if g.json {
				return printJSON(cmd.OutOrStdout(), c)
			}
			showConsortium(cmd.OutOrStdout(), c)
			return nil
		},
	}
	cmd.Flags().BoolVar(&draft, "draft", false, "show the unsigned draft instead")
	return cmd
}

func showConsortium(w io.Writer, c *consortium.Config) {
	fmt.Fprintf(w, "consortium %q version %d\nkey       %s\n", c.Name, c.Version, c.Key)
	fmt.Fprintf(w, "members   %d\n", len(c.Members))
	for _, m := range c.Members {
		fmt.Fprintf(w, "  %-16s %-24s %-12s %s\n", m.ShortName, m.Name, strings.Join(m.Roles, ","), m.Peer)
	}
	if c.Ledger != nil {
		fmt.Fprintf(w, "ledger    %s at %s\n  origin %s\n  key    %s\n", c.Ledger.Peer, c.Ledger.HTTP, c.Ledger.Origin, c.Ledger.Key)
	} else {
		fmt.Fprintln(w, "ledger    none")
	}
	fmt.Fprintf(w, "witnesses %d, quorum %d\n", len(c.Witnesses), c.Quorum)
	for _, wi := range c.Witnesses {
		fmt.Fprintf(w, "  %s at %s\n    key %s\n", wi.Name, wi.HTTP, wi.Key)
	}
}

func newConsortiumInstallCmd() *cobra.Command {
	var key string
	cmd := &cobra.Command{
		Use:   "install FILE",
		Short: "Install a signed consortium configuration on this node",
		Long: `install verifies FILE and makes it this node's configuration. The first
configuration is trusted on first use unless --key pins the consortium key; after
that only a newer version signed by the same key is accepted.`,
		Example: `  cohortnet consortium install consortium.yaml --key 12D3KooW...`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			var opts consortium.InstallOptions
			if key != "" {
				if opts.Key, err = parsePeer(key); err != nil {
					return err
				}
			}
			r, err := consortium.Install(dataDir(), b, opts)
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			if g.json {
				return printJSON(cmd.OutOrStdout(), map[string]any{"version": r.Config.Version, "previous": r.Previous, "changed": r.Changed})
			}
			if !r.Changed {
				fmt.Fprintf(cmd.OutOrStdout(), "version %d is already installed; nothing changed\n", r.Config.Version)
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "installed %q version %d (signed by %s)\n", r.Config.Name, r.Config.Version, r.Config.Key)
			return nil
		},
	}
	cmd.Flags().StringVar(&key, "key", "", "expected consortium key (peer-id form)")
	return cmd
}
