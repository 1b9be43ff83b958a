"""The VPC: public, private and database subnets across AZs, NAT, flow logs, DB/cache subnet groups."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.shared import assume_role_policy
from stacks.config import EnvironmentConfig


@dataclass(frozen=True)
class NetworkArgs:
    config: EnvironmentConfig
    logs_key_arn: pulumi.Input[str]  # CMK that encrypts the flow-log group


class Network(pulumi.ComponentResource):
    vpc_id: pulumi.Output[str]
    public_subnet_ids: list[pulumi.Output[str]]
    private_subnet_ids: list[pulumi.Output[str]]
    database_subnet_ids: list[pulumi.Output[str]]
    database_subnet_group_name: pulumi.Output[str]
    cache_subnet_group_name: pulumi.Output[str]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("infra:aws:Network", name, None, opts)
        self._cfg = args.config
        self._name = name
        net = args.config.network
        self._child = pulumi.ResourceOptions(parent=self)

        self.vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=net.cidr,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags=self._tags(f"{name}-vpc"),
            opts=self._child,
        )
        self.vpc_id = self.vpc.id
        # Lock down the default security group: nothing should ever use it.
        aws.ec2.DefaultSecurityGroup(
            f"{name}-default-sg", vpc_id=self.vpc.id, ingress=[], egress=[],
            tags=self._tags(f"{name}-default-deny"), opts=self._child,
        )
        igw = aws.ec2.InternetGateway(
            f"{name}-igw", vpc_id=self.vpc.id, tags=self._tags(f"{name}-igw"), opts=self._child
        )

        public = self._subnets("public", net.public_subnets, {"kubernetes.io/role/elb": "1"})
        private = self._subnets("private", net.private_subnets, {"kubernetes.io/role/internal-elb": "1"})
        database = self._subnets("database", net.database_subnets, {})
        self.public_subnet_ids = [s.id for s in public]
        self.private_subnet_ids = [s.id for s in private]
        self.database_subnet_ids = [s.id for s in database]

        public_rt = aws.ec2.RouteTable(
            f"{name}-public-rt", vpc_id=self.vpc.id, tags=self._tags(f"{name}-public"), opts=self._child
        )
        aws.ec2.Route(
            f"{name}-public-default", route_table_id=public_rt.id, destination_cidr_block="0.0.0.0/0",
            gateway_id=igw.id, opts=self._child,
        )
        for i, subnet in enumerate(public):
            aws.ec2.RouteTableAssociation(
                f"{name}-public-rta-{i}", subnet_id=subnet.id, route_table_id=public_rt.id, opts=self._child
            )

        nats = self._nat_gateways(public, depends_on=igw)
        private_rts = []
        for i, subnet in enumerate(private):
            rt = aws.ec2.RouteTable(
                f"{name}-private-rt-{i}", vpc_id=self.vpc.id,
                tags=self._tags(f"{name}-private-{net.availability_zones[i]}"), opts=self._child,
            )
            private_rts.append(rt)
            aws.ec2.Route(
                f"{name}-private-default-{i}", route_table_id=rt.id, destination_cidr_block="0.0.0.0/0",
                nat_gateway_id=nats[i % len(nats)].id, opts=self._child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-private-rta-{i}", subnet_id=subnet.id, route_table_id=rt.id, opts=self._child
            )

        # S3 through a gateway endpoint: free, and image layers pulled from ECR (served from S3) no longer
        # pay the NAT gateways' per-GB processing charge.
        aws.ec2.VpcEndpoint(
            f"{name}-s3", vpc_id=self.vpc.id, service_name=f"com.amazonaws.{self._cfg.region}.s3",
            vpc_endpoint_type="Gateway", route_table_ids=[rt.id for rt in private_rts],
            tags=self._tags(f"{name}-s3"), opts=self._child,
        )

        # Database subnets get a route table with no default route: data stores never reach the internet.
        db_rt = aws.ec2.RouteTable(
            f"{name}-database-rt", vpc_id=self.vpc.id, tags=self._tags(f"{name}-database"), opts=self._child
        )
        for i, subnet in enumerate(database):
            aws.ec2.RouteTableAssociation(
                f"{name}-database-rta-{i}", subnet_id=subnet.id, route_table_id=db_rt.id, opts=self._child
            )

        db_group = aws.rds.SubnetGroup(
            f"{name}-db-subnets", name=f"{name}-db", subnet_ids=self.database_subnet_ids,
            description=f"{name} database subnets", tags=self._tags(f"{name}-db"), opts=self._child,
        )
        cache_group = aws.elasticache.SubnetGroup(
            f"{name}-cache-subnets", name=f"{name}-cache", subnet_ids=self.database_subnet_ids,
            description=f"{name} cache subnets", tags=self._tags(f"{name}-cache"), opts=self._child,
        )
        self.database_subnet_group_name = db_group.name
        self.cache_subnet_group_name = cache_group.name

        self._flow_logs(args.logs_key_arn)

        self.register_outputs({
            "vpc_id": self.vpc_id,
            "public_subnet_ids": self.public_subnet_ids,
            "private_subnet_ids": self.private_subnet_ids,
            "database_subnet_ids": self.database_subnet_ids,
            "database_subnet_group_name": self.database_subnet_group_name,
            "cache_subnet_group_name": self.cache_subnet_group_name,
        })

    def _tags(self, name: str, **extra: str) -> dict[str, str]:
        return self._cfg.tags(Name=name, **extra)

    def _subnets(self, tier: str, cidrs: list[str], role_tags: dict[str, str]) -> list[aws.ec2.Subnet]:
        azs = self._cfg.network.availability_zones
        return [
            aws.ec2.Subnet(
                f"{self._name}-{tier}-{i}",
                vpc_id=self.vpc.id,
                cidr_block=cidr,
                availability_zone=azs[i],
                map_public_ip_on_launch=False,
                tags=self._tags(f"{self._name}-{tier}-{azs[i]}", tier=tier, **role_tags),
                opts=self._child,
            )
            for i, cidr in enumerate(cidrs)
        ]

    def _nat_gateways(self, public: list[aws.ec2.Subnet], depends_on: pulumi.Resource) -> list:
        # Prod: one per AZ so losing an AZ never cuts the others off. Staging: one, to save cost.
        count = len(public) if self._cfg.network.nat_gateways == "onePerAz" else 1
        nats = []
        for i in range(count):
            eip = aws.ec2.Eip(
                f"{self._name}-nat-eip-{i}", domain="vpc", tags=self._tags(f"{self._name}-nat-{i}"),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[depends_on]),
            )
            nats.append(aws.ec2.NatGateway(
                f"{self._name}-nat-{i}", allocation_id=eip.id, subnet_id=public[i].id,
                tags=self._tags(f"{self._name}-nat-{i}"), opts=self._child,
            ))
        return nats

    def _flow_logs(self, key_arn: pulumi.Input[str]) -> None:
        group = aws.cloudwatch.LogGroup(
            f"{self._name}-flow-logs",
            name=f"/aws/vpc/{self._name}/flow-logs",
            retention_in_days=self._cfg.network.flow_log_retention_days,
            kms_key_id=key_arn,
            tags=self._tags(f"{self._name}-flow-logs"),
            opts=self._child,
        )
        role = aws.iam.Role(
            f"{self._name}-flow-logs-role",
            assume_role_policy=assume_role_policy("vpc-flow-logs.amazonaws.com"),
            tags=self._tags(f"{self._name}-flow-logs"),
            opts=self._child,
        )
        # Least privilege: write to this one log group only.
        aws.iam.RolePolicy(
            f"{self._name}-flow-logs-write",
            role=role.id,
            policy=group.arn.apply(lambda arn: json.dumps({
                "Version": "2012-10-17",
                "Statement": [{
                    "Effect": "Allow",
                    "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                    "Resource": [arn, f"{arn}:*"],
                }],
            })),
            opts=self._child,
        )
        aws.ec2.FlowLog(
            f"{self._name}-flow-log",
            vpc_id=self.vpc.id,
            traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_destination=group.arn,
            iam_role_arn=role.arn,
            max_aggregation_interval=60,
            tags=self._tags(f"{self._name}-flow-log"),
            opts=self._child,
        )
