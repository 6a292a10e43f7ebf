"""Mutual TLS between the gateway and the services, switched on by settings.

With GRPC_TLS_CERT_FILE, GRPC_TLS_KEY_FILE and GRPC_TLS_CA_FILE set, every
server listens with TLS and requires a client certificate signed by the CA,
and every client presents its own certificate and checks the server's. The
internal tokens are checked as before: TLS proves the peer is one of ours,
the token names the user or service the call acts for.
"""

from dataclasses import dataclass
from pathlib import Path

import grpc
from pydantic import AliasChoices, BaseModel, Field, model_validator


class TlsSettings(BaseModel):
    """The three PEM files; all set switches mutual TLS on, none leaves it off."""

    grpc_tls_cert_file: Path | None = Field(
        default=None, validation_alias=AliasChoices("GRPC_TLS_CERT_FILE")
    )
    grpc_tls_key_file: Path | None = Field(
        default=None, validation_alias=AliasChoices("GRPC_TLS_KEY_FILE")
    )
    grpc_tls_ca_file: Path | None = Field(
        default=None, validation_alias=AliasChoices("GRPC_TLS_CA_FILE")
    )

    @model_validator(mode="after")
    def _all_or_none(self) -> "TlsSettings":
        files = (self.grpc_tls_cert_file, self.grpc_tls_key_file, self.grpc_tls_ca_file)
        if any(files) and not all(files):
            raise ValueError(
                "mutual TLS needs GRPC_TLS_CERT_FILE, GRPC_TLS_KEY_FILE and"
                " GRPC_TLS_CA_FILE together; set all three or none"
            )
        return self

    def tls_files(self) -> "TlsFiles | None":
        """Return the files when mutual TLS is on, else None."""
        if self.grpc_tls_cert_file is None:
            return None
        assert self.grpc_tls_key_file is not None
        assert self.grpc_tls_ca_file is not None
        return TlsFiles(
            self.grpc_tls_cert_file, self.grpc_tls_key_file, self.grpc_tls_ca_file
        )


@dataclass(frozen=True)
class TlsFiles:
    cert: Path
    key: Path
    ca: Path

    def server_credentials(self) -> grpc.ServerCredentials:
        """Return credentials that present our certificate and demand the peer's."""
        return grpc.ssl_server_credentials(
            [(self.key.read_bytes(), self.cert.read_bytes())],
            root_certificates=self.ca.read_bytes(),
            require_client_auth=True,
        )

    def channel_credentials(self) -> grpc.ChannelCredentials:
        """Return credentials that check the server and present our certificate."""
        return grpc.ssl_channel_credentials(
            root_certificates=self.ca.read_bytes(),
            private_key=self.key.read_bytes(),
            certificate_chain=self.cert.read_bytes(),
        )
