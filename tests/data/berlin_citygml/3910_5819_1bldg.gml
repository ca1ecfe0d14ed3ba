<?xml version='1.0' encoding='UTF-8'?>
<!-- Written by virtualcityDATABASE Importer/Exporter, version "4.0.1" --><!-- virtualcitySYSTEMS GmbH, http://www.virtualcitysystems.de --><CityModel xmlns:xAL="urn:oasis:names:tc:ciq:xsdschema:xAL:2.0" xmlns:gml="http://www.opengis.net/gml" xmlns:wtr="http://www.opengis.net/citygml/waterbody/2.0" xmlns="http://www.opengis.net/citygml/2.0" xmlns:veg="http://www.opengis.net/citygml/vegetation/2.0" xmlns:dem="http://www.opengis.net/citygml/relief/2.0" xmlns:tran="http://www.opengis.net/citygml/transportation/2.0" xmlns:grp="http://www.opengis.net/citygml/cityobjectgroup/2.0" xmlns:bldg="http://www.opengis.net/citygml/building/2.0" xmlns:tun="http://www.opengis.net/citygml/tunnel/2.0" xmlns:frn="http://www.opengis.net/citygml/cityfurniture/2.0" xmlns:brid="http://www.opengis.net/citygml/bridge/2.0" xmlns:gen="http://www.opengis.net/citygml/generics/2.0" xmlns:xlink="http://www.w3.org/1999/xlink" xmlns:luse="http://www.opengis.net/citygml/landuse/2.0" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="http://www.opengis.net/citygml/cityobjectgroup/2.0 http://schemas.opengis.net/citygml/cityobjectgroup/2.0/cityObjectGroup.xsd http://www.opengis.net/citygml/building/2.0 http://schemas.opengis.net/citygml/building/2.0/building.xsd http://www.opengis.net/citygml/tunnel/2.0 http://schemas.opengis.net/citygml/tunnel/2.0/tunnel.xsd http://www.opengis.net/citygml/waterbody/2.0 http://schemas.opengis.net/citygml/waterbody/2.0/waterBody.xsd http://www.opengis.net/citygml/cityfurniture/2.0 http://schemas.opengis.net/citygml/cityfurniture/2.0/cityFurniture.xsd http://www.opengis.net/citygml/generics/2.0 http://schemas.opengis.net/citygml/generics/2.0/generics.xsd http://www.opengis.net/citygml/bridge/2.0 http://schemas.opengis.net/citygml/bridge/2.0/bridge.xsd http://www.opengis.net/citygml/vegetation/2.0 http://schemas.opengis.net/citygml/vegetation/2.0/vegetation.xsd http://www.opengis.net/citygml/transportation/2.0 http://schemas.opengis.net/citygml/transportation/2.0/transportation.xsd http://www.opengis.net/citygml/relief/2.0 http://schemas.opengis.net/citygml/relief/2.0/relief.xsd http://www.opengis.net/citygml/landuse/2.0 http://schemas.opengis.net/citygml/landuse/2.0/landUse.xsd">
  <cityObjectMember>
    <bldg:Building gml:id="BLDG_0003000e00180b94">
      <gml:boundedBy>
        <gml:Envelope srsName="urn:ogc:def:crs:EPSG::25833" srsDimension="3">
          <gml:lowerCorner>391850.062691392 5819004.87008054 33.6599998474121</gml:lowerCorner>
          <gml:upperCorner>391911.72370055 5819095.17550635 61.8621826171875</gml:upperCorner>
        </gml:Envelope>
      </gml:boundedBy>
      <creationDate>2014-07-09</creationDate>
      <externalReference>
        <informationSystem>LOCATION</informationSystem>
        <externalObject>
          <name>0003000e00180b94</name>
        </externalObject>
      </externalReference>
      <bldg:function>1231</bldg:function>
      <bldg:roofType>1130</bldg:roofType>
      <bldg:measuredHeight>28.22218</bldg:measuredHeight>
      <bldg:boundedBy>
        <bldg:WallSurface gml:id="BLDG_229220">
          <creationDate>2014-07-09</creationDate>
          <bldg:lod2MultiSurface>
            <gml:MultiSurface gml:id="GEOM_847275">
              <gml:surfaceMember>
                <gml:Polygon gml:id="GEOM_847278">
                  <gml:exterior>
                    <gml:LinearRing gml:id="GEOM_847278_0_">
                      <gml:posList srsDimension="3">391903.482554946 5819010.46789911 33.6599998474121 391903.483038371 5819010.46861389 56.2792578934467 391897.838046308 5819007.83941161 58.9739214057327 391892.192938995 5819005.21003895 56.2792578934467 391892.192455575 5819005.20932417 33.6599998474121 391903.482554946 5819010.46789911 33.6599998474121</gml:posList>
                    </gml:LinearRing>
                  </gml:exterior>
                </gml:Polygon>
              </gml:surfaceMember>
              <gml:surfaceMember>
                <gml:Polygon gml:id="GEOM_847277">
                  <gml:exterior>
                    <gml:LinearRing gml:id="GEOM_847277_0_">
                      <gml:posList srsDimension="3">391892.192455575 5819005.20932417 33.6599998474121 391892.192938995 5819005.21003895 56.2792578934467 391886.479016512 5819017.29177983 56.2792578934467 391886.478533094 5819017.29106504 33.6599998474121 391892.192455575 5819005.20932417 33.6599998474121</gml:posList>
                    </gml:LinearRing>
                  </gml:exterior>
                </gml:Polygon>
              </gml:surfaceMember>
              <gml:surfaceMember>
                <gml:Polygon gml:id="GEOM_847280">
                  <gml:exterior>
                    <gml:LinearRing gml:id="GEOM_847280_0_">
                      <gml:posList srsDimension="3">391881.090460401 5819028.68381716 33.6599998474121 391881.090943816 5819028.68453195 56.2792578934467 391875.354748542 5819040.81336892 56.2792578934467 391875.354265129 5819040.81265412 33.6599998474121 391881.090460401 5819028.68381716 33.6599998474121</gml:posList>
                    </gml:LinearRing>
                  </gml:exterior>
                </gml:Polygon>
              </gml:surfaceMember>
              <gml:surfaceMember>
                <gml:Polygon gml:id="GEOM_847283">
                  <gml:exterior>
                    <gml:LinearRing gml:id="GEOM_847283_0_">
                      <gml:posList srsDimension="3">391868.654983743 5819054.97787932 33.6599998474121 391868.655467153 5819054.97859412 56.2792578934467 391864.357610754 5819064.06615207 56.2792578934467 391864.357127346 5819064.06543727 33.6599998474121 391868.654983743 5819054.97787932 33.6599998474121</gml:posList>
                    </gml:LinearRing>
                  </gml:exterior>
                </gml:Polygon>
              </gml:surfaceMember>
              <gml:surfaceMember>
                <gml:Polygon gml:id="GEOM_847279">
                  <gml:exterior>
                    <gml:LinearRing gml:id="GEOM_847279_0_">
                      <gml:posList srsDimension="3">391875.354265129 5819040.81265412 33.6599998474121 391875.354748542 5819040.81336892 56.2792578934467 391886.54767148 5819046.23517362 58.9739214057327 391886.547130472 5819046.23437367 33.6599998474121 391875.354265129 5819040.81265412 33.6599998474121</gml:posList>
                    </gml:LinearRing>
                  </gml:exterior>
                </gml:Polygon>
              </gml:surfaceMember>
              <gml:surfaceMember>
                <gml:Polygon gml:id="GEOM_847284">
                  <gml:exterior>
                    <gml:LinearRing gml:id="GEOM_847284_0_">
                      <gml:posList srsDimension="3">391881.185418406 5819057.55794955 33.6599998474121 391881.185901822 5819057.55866435 56.2792578934467 391874.920742127 5819056.26871441 58.9739214057327 391868.655467153 5819054.97859412 56.2792578934467 391868.654983743 5819054.97787932 33.6599998474121 391881.185418406 5819057.55794955 33.6599998474121</gml:posList>
                    </gml:LinearRing>
                  </gml:exterior>
                </gml:Polygon>
              </gml:surfaceMember>
              <gml:surfaceMember>
                <gml:Polygon gml:id="GEOM_847281">
                  <gml:exterior>
                    <gml:LinearRing gml:id="GEOM_847281_0_">
                      <gml:posList srsDimension="3">391892.288863619 5819034.1082196 33.6599998474121 391892.28940463 5819034.10901954 58.9739214057327 391881.090943816 5819028.68453195 56.2792578934467 391881.090460401 5819028.68381716 33.6599998474121 391892.288863619 5819034.1082196 33.6599998474121</gml:posList>
                    </gml:LinearRing>
                  </gml:exterior>
                </gml:Polygon>
              </gml:surfaceMember>
              <gml:surfaceMember>
                <gml:Polygon gml:id="GEOM_847282">
                  <gml:exterior>
                    <gml:LinearRing gml:id="GEOM_847282_0_">
                      <gml:posList srsDimension="3">391864.357127346 5819064.06543727 33.6599998474121 391864.357610754 5819064.06615207 56.2792578934467 391869.886718294 5819066.90562204 58.9739214057327 391875.415710592 5819069.74492162 56.2792578934467 391875.415227179 5819069.74420681 33.6599998474121 391864.357127346 5819064.06543727 33.6599998474121</gml:posList>
                    </gml:LinearRing>
                  </gml:exterior>
                </gml:Polygon>
              </gml:surfaceMember>
              <gml:surfaceMember>
                <gml:Polygon gml:id="GEOM_847289">
                  <gml:exterior>
                    <gml:LinearRing gml:id="GEOM_847289_0_">
                      <gml:posList srsDimension="3">391905.643182295 5819005.90480036 33.6599998474121 391905.64360465 5819005.90542484 53.4217383833201 391903.482979868 5819010.46852739 53.5419104372115 391903.482554946 5819010.46789911 33.6599998474121 391905.643182295 5819005.90480036 33.6599998474121</gml:posList>
                    </gml:LinearRing>
                  </gml:exterior>
                </gml:Polygon>
              </gml:surfaceMember>
              <gml:surfaceMember>
                <gml:Polygon gml:id="GEOM_847285">
                  <gml:exterior>
                    <gml:LinearRing gml:id="GEOM_847285_0_">
                      <gml:posList srsDimension="3">391869.949487757 5819081.28748304 33.6599998474121 391869.950085878 5819081.28836748 61.6466990247379 391858.89719924 5819075.6122755 61.6466990247379 391858.896601125 5819075.61139107 33.6599998474121 391869.949487757 5819081.28748304 33.6599998474121</gml:posList>
                    </gml:LinearRing>
                  </gml:exterior>
                </gml:Polygon>
              </gml:surfaceMember>
              <gml:surfaceMember>
                <gml:Polygon gml:id="GEOM_847286">
                  <gml:exterior>
                    <gml:LinearRing gml:id="GEOM_847286_0_">
                      <gml:posList srsDimension="3">391864.18966667 5819093.45398854 61.6466990247379 391865.753966832 5819090.15029087 61.6466990247379 391869.358395131 5819082.53799535 61.8621824905604 391869.950085878 5819081.28836748 61.6466990247379 391864.18966667 5819093.45398854 61.6466990247379</gml:posList>
                    </gml:LinearRing>
                  </gml:exterior>
                </gml:Polygon>
              </gml:surfaceMember>
              <gml:surfaceMember>
                <gml:Polygon gml:id="GEOM_847288">
                  <gml:exterior>
                    <gml:LinearRing gml:id="GEOM_847288_0_">
                      <gml:posList srsDimension="3">391858.896601125 5819075.61139107 33.6599998474121 391858.89719924 5819075.6122755 61.6466990247379 391858.306081645 5819076.86217465 61.8621824905604 391853.05523253 5819087.96476224 61.635619772611 391851.67759266 5819090.87769994 61.6466990247379 391851.67699455 5819090.87681551 33.6599998474121 391858.896601125 5819075.61139107 33.6599998474121</gml:posList>
                    </gml:LinearRing>
                  </gml:exterior>
                </gml:Polygon>
              </gml:surfaceMember>
              <gml:surfaceMember>
                <gml:Polygon gml:id="GEOM_847287">
                  <gml:exterior>
                    <gml:LinearRing gml:id="GEOM_847287_0_">
                      <gml:posList srsDimension="3">391851.67699455 5819090.87681551 33.6599998474121 391851.67759266 5819090.87769994 61.6466990247379 391864.18966667 5819093.45398854 61.6466990247379 391864.189068552 5819093.4531041 33.6599998474121 391851.67699455 5819090.87681551 33.6599998474121</gml:posList>
                    </gml:LinearRing>
                  </gml:exterior>
                </gml:Polygon>
              </gml:surfaceMember>
              <gml:surfaceMember>
                <gml:Polygon gml:id="GEOM_847302">
                  <gml:exterior>
                    <gml:LinearRing gml:id="GEOM_847302_0_">
                      <gml:posList srsDimension="3">391881.185901822 5819057.55866435 56.2792578934467 391881.185959412 5819057.55874951 58.9739214057327 391875.415768182 5819069.74500677 58.9739214057327 391875.415710592 5819069.74492162 56.2792578934467 391881.185901822 5819057.55866435 56.2792578934467</gml:posList>
                    </gml:LinearRing>
                  </gml:exterior>
                </gml:Polygon>
              </gml:surfaceMember>
              <gml:surfaceMember>
                <gml:Polygon gml:id="GEOM_847295">
                  <gml:exterior>
                    <gml:LinearRing gml:id="GEOM_847295_0_">
                      <gml:posList srsDimension="3">391898.183119072 5819036.9633421 33.6599998474121 391898.183602495 5819036.96405689 56.2792578934467 391903.700396784 5819025.31295912 56.2792578934467 391903.699913359 5819025.31224433 33.6599998474121 391898.183119072 5819036.9633421 33.6599998474121</gml:posList>
                    </gml:LinearRing>
                  </gml:exterior>
                </gml:Polygon>
              </gml:surfaceMember>
              <gml:surfaceMember>
                <gml:Polygon gml:id="GEOM_847291">
                  <gml:exterior>
                    <gml:LinearRing gml:id="GEOM_847291_0_">
                      <gml:posList srsDimension="3">391909.419391902 5819013.2330919 33.6599998474121 391909.419816827 5819013.23372018 53.5419104372115 391910.156932643 5819011.6769722 53.4217383833201 391910.156510287 5819011.67634771 33.6599998474121 391909.419391902 5819013.2330919 33.6599998474121</gml:posList>
                    </gml:LinearRing>
                  </gml:exterior>
                </gml:Polygon>
              </gml:surfaceMember>
              <gml:surfaceMember>
                <gml:Polygon gml:id="GEOM_847294">
                  <gml:exterior>
                    <gml:LinearRing gml:id="GEOM_847294_0_">
                      <gml:posList srsDimension="3">391903.483038371 5819010.46861389 56.2792578934467 391903.483095962 5819010.46869904 58.9739214057327 391897.763617249 5819022.54785161 58.9739214057327 391897.763559658 5819022.54776646 56.2792578934467 391903.483038371 5819010.46861389 56.2792578934467</gml:posList>
                    </gml:LinearRing>
                  </gml:exterior>
                </gml:Polygon>
              </gml:surfaceMember>
              <gml:surfaceMember>
                <gml:Polygon gml:id="GEOM_847290">
                  <gml:exterior>
                    <gml:LinearRing gml:id="GEOM_847290_0_">
                      <gml:posList srsDimension="3">391910.156510287 5819011.67634771 33.6599998474121 391910.156932643 5819011.6769722 53.4217383833201 391905.64360465 5819005.90542484 53.4217383833201 391905.643182295 5819005.90480036 33.6599998474121 391910.156510287 5819011.67634771 33.6599998474121</gml:posList>
                    </gml:LinearRing>
                  </gml:exterior>
                </gml:Polygon>
              </gml:surfaceMember>
              <gml:surfaceMember>
                <gml:Polygon gml:id="GEOM_847305">
                  <gml:exterior>
                    <gml:LinearRing gml:id="GEOM_847305_0_">
                      <gml:posList srsDimension="3">391875.778743469 5819084.28145907 54.217253769 391875.778902248 5819084.28169385 61.6466990247379 391869.950085878 5819081.28836748 61.6466990247379 391869.949927099 5819081.28813269 54.217253769 391875.778743469 5819084.28145907 54.217253769</gml:posList>
                    </gml:LinearRing>
                  </gml:exterior>
                </gml:Polygon>
              </gml:surfaceMember>
              <gml:surfaceMember>
                <gml:Polygon gml:id="GEOM_847309">
                  <gml:exterior>
                    <gml:LinearRing gml:id="GEOM_847309_0_">
                      <gml:posList srsDimension="3">391869.950084888 5819081.28836601 61.6004174787088 391869.950085878 5819081.28836748 61.6466990247379 391865.753966832 5819090.15029087 61.6466990247379 391865.568642314 5819090.54168305 61.635619772611 391869.950084888 5819081.28836601 61.6004174787088</gml:posList>
                    </gml:LinearRing>
                  </gml:exterior>
                </gml:Polygon>
              </gml:surfaceMember>
              <gml:surfaceMember>
                <gml:Polygon gml:id="GEOM_847292">
                  <gml:exterior>
                    <gml:LinearRing gml:id="GEOM_847292_0_">
                      <gml:posList srsDimension="3">391909.419816827 5819013.23372018 53.5419104372115 391909.419875331 5819013.23380668 56.2792578934467 391903.483095962 5819010.46869904 58.9739214057327 391903.482979868 5819010.46852739 53.5419104372115 391909.419816827 5819013.23372018 53.5419104372115</gml:posList>
                    </gml:LinearRing>
                  </gml:exterior>
                </gml:Polygon>
              </gml:surfaceMember>
              <gml:surfaceMember>
                <gml:Polygon gml:id="GEOM_847307">
                  <gml:exterior>
                    <gml:LinearRing gml:id="GEOM_847307_0_">
                      <gml:posList srsDimension="3">391864.189068552 5819093.4531041 33.6599998474121 391864.18966667 5819093.45398854 61.6466990247379 391870.792113115 5819094.81345997 61.6466990247379 391870.791514994 5819094.81257553 33.6599998474121 391864.189068552 5819093.4531041 33.6599998474121</gml:posList>
                    </gml:LinearRing>
                  </gml:exterior>
                </gml:Polygon>
              </gml:surfaceMember>
              <gml:surfaceMember>
                <gml:Polygon gml:id="GEOM_847306">
                  <gml:exterior>
                    <gml:LinearRing gml:id="GEOM_847306_0_">
                      <gml:posList srsDimension="3">391870.791514994 5819094.81257553 33.6599998474121 391870.792113115 5819094.81345997 61.6466990247379 391875.778902248 5819084.28169385 61.6466990247379 391875.778304124 5819084.28080942 33.6599998474121 391870.791514994 5819094.81257553 33.6599998474121</gml:posList>
                    </gml:LinearRing>
                  </gml:exterior>
                </gml:Polygon>
              </gml:surfaceMember>
              <gml:surfaceMember>
                <gml:Polygon gml:id="GEOM_847308">
                  <gml:exterior>
                    <gml:LinearRing gml:id="GEOM_847308_0_">
                      <gml:posList srsDimension="3">391865.753966832 5819090.15029087 61.6466990247379 391864.18966667 5819093.45398854 61.6466990247379 391864.189664671 5819093.45398558 61.5531803777738 391865.753966832 5819090.15029087 61.6466990247379</gml:posList>
                    </gml:LinearRing>
                  </gml:exterior>
                </gml:Polygon>
              </gml:surfaceMember>
              <gml:surfaceMember>
                <gml:Polygon gml:id="GEOM_847293">
                  <gml:exterior>
                    <gml:LinearRing gml:id="GEOM_847293_0_">
                      <gml:posList srsDimension="3">391903.699913359 5819025.31224433 33.6599998474121 391903.700396784 5819025.31295912 56.2792578934467 391909.419875331 5819013.23380668 56.2792578934467 391909.419391902 5819013.2330919 33.6599998474121 391903.699913359 5819025.31224433 33.6599998474121</gml:posList>
                    </gml:LinearRing>
                  </gml:exterior>
                </gml:Polygon>
              </gml:surfaceMember>
              <gml:surfaceMember>
                <gml:Polygon gml:id="GEOM_847297">
                  <gml:exterior>
                    <gml:LinearRing gml:id="GEOM_847297_0_">
                      <gml:posList srsDimension="3">391892.441386094 5819049.08949604 33.6599998474121 391892.441869514 5819049.09021084 56.2792578934467 391898.183602495 5819036.96405689 56.2792578934467 391898.183119072 5819036.9633421 33.6599998474121 391892.441386094 5819049.08949604 33.6599998474121</gml:posList>
                    </gml:LinearRing>
                  </gml:exterior>
                </gml:Polygon>
              </gml:surfaceMember>
              <gml:surfaceMember>
                <gml:Polygon gml:id="GEOM_847296">
                  <gml:exterior>
                    <gml:LinearRing gml:id="GEOM_847296_0_">
                      <gml:posList srsDimension="3">391897.763076235 5819022.54705167 33.6599998474121 391897.763617249 5819022.54785161 58.9739214057327 391892.28940463 5819034.10901954 58.9739214057327 391892.288863619 5819034.1082196 33.6599998474121 391897.763076235 5819022.54705167 33.6599998474121</gml:posList>
                    </gml:LinearRing>
                  </gml:exterior>
                </gml:Polygon>
              </gml:surfaceMember>
              <gml:surfaceMember>
                <gml:Polygon gml:id="GEOM_847301">
                  <gml:exterior>
                    <gml:LinearRing gml:id="GEOM_847301_0_">
                      <gml:posList srsDimension="3">391875.415666524 5819069.74485645 54.217253769 391875.415768182 5819069.74500677 58.9739214057327 391881.244526799 5819072.73824811 56.2792578934467 391881.24448273 5819072.73818295 54.217253769 391875.415666524 5819069.74485645 54.217253769</gml:posList>
                    </gml:LinearRing>
                  </gml:exterior>
                </gml:Polygon>
              </gml:surfaceMember>
              <gml:surfaceMember>
                <gml:Polygon gml:id="GEOM_847304">
                  <gml:exterior>
                    <gml:LinearRing gml:id="GEOM_847304_0_">
                      <gml:posList srsDimension="3">391875.415227179 5819069.74420681 33.6599998474121 391875.415666524 5819069.74485645 54.217253769 391869.949927099 5819081.28813269 54.217253769 391869.949487757 5819081.28748304 33.6599998474121 391875.415227179 5819069.74420681 33.6599998474121</gml:posList>
                    </gml:LinearRing>
                  </gml:exterior>
                </gml:Polygon>
              </gml:surfaceMember>
              <gml:surfaceMember>
                <gml:Polygon gml:id="GEOM_847303">
                  <gml:exterior>
                    <gml:LinearRing gml:id="GEOM_847303_0_">
                      <gml:posList srsDimension="3">391875.778304124 5819084.28080942 33.6599998474121 391875.778743469 5819084.28145907 54.217253769 391881.24448273 5819072.73818295 54.217253769 391881.244043383 5819072.7375333 33.6599998474121 391875.778304124 5819084.28080942 33.6599998474121</gml:posList>
                    </gml:LinearRing>
                  </gml:exterior>
                </gml:Polygon>
              </gml:surfaceMember>
              <gml:surfaceMember>
                <gml:Polygon gml:id="GEOM_847300">
                  <gml:exterior>
                    <gml:LinearRing gml:id="GEOM_847300_0_">
                      <gml:posList srsDimension="3">391881.244043383 5819072.7375333 33.6599998474121 391881.244526799 5819072.73824811 56.2792578934467 391887.788347856 5819058.91813627 56.2792578934467 391887.787864438 5819058.91742147 33.6599998474121 391881.244043383 5819072.7375333 33.6599998474121</gml:posList>
                    </gml:LinearRing>
                  </gml:exterior>
                </gml:Polygon>
              </gml:surfaceMember>
              <gml:surfaceMember>
                <gml:Polygon gml:id="GEOM_847299">
                  <gml:exterior>
                    <gml:LinearRing gml:id="GEOM_847299_0_">
                      <gml:posList srsDimension="3">391886.547130472 5819046.23437367 33.6599998474121 391886.54767148 5819046.23517362 58.9739214057327 391881.185959412 5819057.55874951 58.9739214057327 391881.185418406 5819057.55794955 33.6599998474121 391886.547130472 5819046.23437367 33.6599998474121</gml:posList>
                    </gml:LinearRing>
                  </gml:exterior>
                </gml:Polygon>
              </gml:surfaceMember>
              <gml:surfaceMember>
                <gml:Polygon gml:id="GEOM_847298">
                  <gml:exterior>
                    <gml:LinearRing gml:id="GEOM_847298_0_">
                      <gml:posList srsDimension="3">391887.787864438 5819058.91742147 33.6599998474121 391887.788347856 5819058.91813627 56.2792578934467 391892.441869514 5819049.09021084 56.2792578934467 391892.441386094 5819049.08949604 33.6599998474121 391887.787864438 5819058.91742147 33.6599998474121</gml:posList>
                    </gml:LinearRing>
                  </gml:exterior>
                </gml:Polygon>
              </gml:surfaceMember>
              <gml:surfaceMember>
                <gml:Polygon gml:id="GEOM_847276">
                  <gml:exterior>
                    <gml:LinearRing gml:id="GEOM_847276_0_">
                      <gml:posList srsDimension="3">391886.478533094 5819017.29106504 33.6599998474121 391886.479016512 5819017.29177983 56.2792578934467 391892.121345709 5819019.91985833 58.9739214057327 391897.763559658 5819022.54776646 56.2792578934467 391897.763076235 5819022.54705167 33.6599998474121 391886.478533094 5819017.29106504 33.6599998474121</gml:posList>
                    </gml:LinearRing>
                  </gml:exterior>
                </gml:Polygon>
              </gml:surfaceMember>
            </gml:MultiSurface>
          </bldg:lod2MultiSurface>
        </bldg:WallSurface>
      </bldg:boundedBy>
      <bldg:boundedBy>
        <bldg:RoofSurface gml:id="BLDG_229221">
          <creationDate>2014-07-09</creationDate>
          <bldg:lod2MultiSurface>
            <gml:MultiSurface gml:id="GEOM_847310">
              <gml:surfaceMember>
                <gml:Polygon gml:id="GEOM_847316">
                  <gml:exterior>
                    <gml:LinearRing gml:id="GEOM_847316_0_">
                      <gml:posList srsDimension="3">391869.950085878 5819081.28836748 61.6466990247379 391869.358395131 5819082.53799535 61.8621824905604 391858.306081645 5819076.86217465 61.8621824905604 391858.89719924 5819075.6122755 61.6466990247379 391869.950085878 5819081.28836748 61.6466990247379</gml:posList>
                    </gml:LinearRing>
                  </gml:exterior>
                </gml:Polygon>
              </gml:surfaceMember>
              <gml:surfaceMember>
                <gml:Polygon gml:id="GEOM_847326">
                  <gml:exterior>
                    <gml:LinearRing gml:id="GEOM_847326_0_">
                      <gml:posList srsDimension="3">391875.778902248 5819084.28169385 61.6466990247379 391870.792113115 5819094.81345997 61.6466990247379 391864.18966667 5819093.45398854 61.6466990247379 391869.950085878 5819081.28836748 61.6466990247379 391875.778902248 5819084.28169385 61.6466990247379</gml:posList>
                    </gml:LinearRing>
                  </gml:exterior>
                </gml:Polygon>
              </gml:surfaceMember>
              <gml:surfaceMember>
                <gml:Polygon gml:id="GEOM_847325">
                  <gml:exterior>
                    <gml:LinearRing gml:id="GEOM_847325_0_">
                      <gml:posList srsDimension="3">391881.24448273 5819072.73818295 54.217253769 391875.778743469 5819084.28145907 54.217253769 391869.949927099 5819081.28813269 54.217253769 391875.415666524 5819069.74485645 54.217253769 391881.24448273 5819072.73818295 54.217253769</gml:posList>
                    </gml:LinearRing>
                  </gml:exterior>
                </gml:Polygon>
              </gml:surfaceMember>
              <gml:surfaceMember>
                <gml:Polygon gml:id="GEOM_847314">
                  <gml:exterior>
                    <gml:LinearRing gml:id="GEOM_847314_0_">
                      <gml:posList srsDimension="3">391875.415710592 5819069.74492162 56.2792578934467 391869.886718294 5819066.90562204 58.9739214057327 391874.920742127 5819056.26871441 58.9739214057327 391881.185901822 5819057.55866435 56.2792578934467 391875.415710592 5819069.74492162 56.2792578934467</gml:posList>
                    </gml:LinearRing>
                  </gml:exterior>
                </gml:Polygon>
              </gml:surfaceMember>
              <gml:surfaceMember>
                <gml:Polygon gml:id="GEOM_847318">
                  <gml:exterior>
                    <gml:LinearRing gml:id="GEOM_847318_0_">
                      <gml:posList srsDimension="3">391865.568642314 5819090.54168305 61.635619772611 391864.18966667 5819093.45398854 61.6466990247379 391851.67759266 5819090.87769994 61.6466990247379 391853.05523253 5819087.96476224 61.635619772611 391865.568642314 5819090.54168305 61.635619772611</gml:posList>
                    </gml:LinearRing>
                  </gml:exterior>
                </gml:Polygon>
              </gml:surfaceMember>
              <gml:surfaceMember>
                <gml:Polygon gml:id="GEOM_847324">
                  <gml:exterior>
                    <gml:LinearRing gml:id="GEOM_847324_0_">
                      <gml:posList srsDimension="3">391887.788347856 5819058.91813627 56.2792578934467 391881.244526799 5819072.73824811 56.2792578934467 391875.415768182 5819069.74500677 58.9739214057327 391881.185959412 5819057.55874951 58.9739214057327 391887.788347856 5819058.91813627 56.2792578934467</gml:posList>
                    </gml:LinearRing>
                  </gml:exterior>
                </gml:Polygon>
              </gml:surfaceMember>
              <gml:surfaceMember>
                <gml:Polygon gml:id="GEOM_847319">
                  <gml:exterior>
                    <gml:LinearRing gml:id="GEOM_847319_0_">
                      <gml:posList srsDimension="3">391905.64360465 5819005.90542484 53.4217383833201 391910.156932643 5819011.6769722 53.4217383833201 391909.419816827 5819013.23372018 53.5419104372115 391903.482979868 5819010.46852739 53.5419104372115 391905.64360465 5819005.90542484 53.4217383833201</gml:posList>
                    </gml:LinearRing>
                  </gml:exterior>
                </gml:Polygon>
              </gml:surfaceMember>
              <gml:surfaceMember>
                <gml:Polygon gml:id="GEOM_847323">
                  <gml:exterior>
                    <gml:LinearRing gml:id="GEOM_847323_0_">
                      <gml:posList srsDimension="3">391892.441869514 5819049.09021084 56.2792578934467 391887.788347856 5819058.91813627 56.2792578934467 391881.185959412 5819057.55874951 58.9739214057327 391886.54767148 5819046.23517362 58.9739214057327 391892.441869514 5819049.09021084 56.2792578934467</gml:posList>
                    </gml:LinearRing>
                  </gml:exterior>
                </gml:Polygon>
              </gml:surfaceMember>
              <gml:surfaceMember>
                <gml:Polygon gml:id="GEOM_847320">
                  <gml:exterior>
                    <gml:LinearRing gml:id="GEOM_847320_0_">
                      <gml:posList srsDimension="3">391909.419875331 5819013.23380668 56.2792578934467 391903.700396784 5819025.31295912 56.2792578934467 391897.763617249 5819022.54785161 58.9739214057327 391903.483095962 5819010.46869904 58.9739214057327 391909.419875331 5819013.23380668 56.2792578934467</gml:posList>
                    </gml:LinearRing>
                  </gml:exterior>
                </gml:Polygon>
              </gml:surfaceMember>
              <gml:surfaceMember>
                <gml:Polygon gml:id="GEOM_847317">
                  <gml:exterior>
                    <gml:LinearRing gml:id="GEOM_847317_0_">
                      <gml:posList srsDimension="3">391869.358395131 5819082.53799535 61.8621824905604 391865.568642314 5819090.54168305 61.635619772611 391853.05523253 5819087.96476224 61.635619772611 391858.306081645 5819076.86217465 61.8621824905604 391869.358395131 5819082.53799535 61.8621824905604</gml:posList>
                    </gml:LinearRing>
                  </gml:exterior>
                </gml:Polygon>
              </gml:surfaceMember>
              <gml:surfaceMember>
                <gml:Polygon gml:id="GEOM_847321">
                  <gml:exterior>
                    <gml:LinearRing gml:id="GEOM_847321_0_">
                      <gml:posList srsDimension="3">391903.700396784 5819025.31295912 56.2792578934467 391898.183602495 5819036.96405689 56.2792578934467 391892.28940463 5819034.10901954 58.9739214057327 391897.763617249 5819022.54785161 58.9739214057327 391903.700396784 5819025.31295912 56.2792578934467</gml:posList>
                    </gml:LinearRing>
                  </gml:exterior>
                </gml:Polygon>
              </gml:surfaceMember>
              <gml:surfaceMember>
                <gml:Polygon gml:id="GEOM_847322">
                  <gml:exterior>
                    <gml:LinearRing gml:id="GEOM_847322_0_">
                      <gml:posList srsDimension="3">391898.183602495 5819036.96405689 56.2792578934467 391892.441869514 5819049.09021084 56.2792578934467 391886.54767148 5819046.23517362 58.9739214057327 391892.28940463 5819034.10901954 58.9739214057327 391898.183602495 5819036.96405689 56.2792578934467</gml:posList>
                    </gml:LinearRing>
                  </gml:exterior>
                </gml:Polygon>
              </gml:surfaceMember>
              <gml:surfaceMember>
                <gml:Polygon gml:id="GEOM_847311">
                  <gml:exterior>
                    <gml:LinearRing gml:id="GEOM_847311_0_">
                      <gml:posList srsDimension="3">391897.763559658 5819022.54776646 56.2792578934467 391892.121345709 5819019.91985833 58.9739214057327 391897.838046308 5819007.83941161 58.9739214057327 391903.483038371 5819010.46861389 56.2792578934467 391897.763559658 5819022.54776646 56.2792578934467</gml:posList>
                    </gml:LinearRing>
                  </gml:exterior>
                </gml:Polygon>
              </gml:surfaceMember>
              <gml:surfaceMember>
                <gml:Polygon gml:id="GEOM_847315">
                  <gml:exterior>
                    <gml:LinearRing gml:id="GEOM_847315_0_">
                      <gml:posList srsDimension="3">391869.886718294 5819066.90562204 58.9739214057327 391864.357610754 5819064.06615207 56.2792578934467 391868.655467153 5819054.97859412 56.2792578934467 391874.920742127 5819056.26871441 58.9739214057327 391869.886718294 5819066.90562204 58.9739214057327</gml:posList>
                    </gml:LinearRing>
                  </gml:exterior>
                </gml:Polygon>
              </gml:surfaceMember>
              <gml:surfaceMember>
                <gml:Polygon gml:id="GEOM_847313">
                  <gml:exterior>
                    <gml:LinearRing gml:id="GEOM_847313_0_">
                      <gml:posList srsDimension="3">391875.354748542 5819040.81336892 56.2792578934467 391881.090943816 5819028.68453195 56.2792578934467 391892.28940463 5819034.10901954 58.9739214057327 391886.54767148 5819046.23517362 58.9739214057327 391875.354748542 5819040.81336892 56.2792578934467</gml:posList>
                    </gml:LinearRing>
                  </gml:exterior>
                </gml:Polygon>
              </gml:surfaceMember>
              <gml:surfaceMember>
                <gml:Polygon gml:id="GEOM_847312">
                  <gml:exterior>
                    <gml:LinearRing gml:id="GEOM_847312_0_">
                      <gml:posList srsDimension="3">391892.121345709 5819019.91985833 58.9739214057327 391886.479016512 5819017.29177983 56.2792578934467 391892.192938995 5819005.21003895 56.2792578934467 391897.838046308 5819007.83941161 58.9739214057327 391892.121345709 5819019.91985833 58.9739214057327</gml:posList>
                    </gml:LinearRing>
                  </gml:exterior>
                </gml:Polygon>
              </gml:surfaceMember>
            </gml:MultiSurface>
          </bldg:lod2MultiSurface>
        </bldg:RoofSurface>
      </bldg:boundedBy>
      <bldg:boundedBy>
        <bldg:GroundSurface gml:id="BLDG_229219">
          <creationDate>2014-07-09</creationDate>
          <bldg:lod2MultiSurface>
            <gml:MultiSurface gml:id="GEOM_847262">
              <gml:surfaceMember>
                <gml:Polygon gml:id="GEOM_847264">
                  <gml:exterior>
                    <gml:LinearRing gml:id="GEOM_847264_0_">
                      <gml:posList srsDimension="3">391892.288863619 5819034.1082196 33.6599998474121 391881.090460401 5819028.68381716 33.6599998474121 391875.354265129 5819040.81265412 33.6599998474121 391886.547130472 5819046.23437367 33.6599998474121 391892.288863619 5819034.1082196 33.6599998474121</gml:posList>
                    </gml:LinearRing>
                  </gml:exterior>
                </gml:Polygon>
              </gml:surfaceMember>
              <gml:surfaceMember>
                <gml:Polygon gml:id="GEOM_847263">
                  <gml:exterior>
                    <gml:LinearRing gml:id="GEOM_847263_0_">
                      <gml:posList srsDimension="3">391892.192455575 5819005.20932417 33.6599998474121 391886.478533094 5819017.29106504 33.6599998474121 391897.763076235 5819022.54705167 33.6599998474121 391903.482554946 5819010.46789911 33.6599998474121 391892.192455575 5819005.20932417 33.6599998474121</gml:posList>
                    </gml:LinearRing>
                  </gml:exterior>
                </gml:Polygon>
              </gml:surfaceMember>
              <gml:surfaceMember>
                <gml:Polygon gml:id="GEOM_847274">
                  <gml:exterior>
                    <gml:LinearRing gml:id="GEOM_847274_0_">
                      <gml:posList srsDimension="3">391864.189068552 5819093.4531041 33.6599998474121 391870.791514994 5819094.81257553 33.6599998474121 391875.778304124 5819084.28080942 33.6599998474121 391869.949487757 5819081.28748304 33.6599998474121 391864.189068552 5819093.4531041 33.6599998474121</gml:posList>
                    </gml:LinearRing>
                  </gml:exterior>
                </gml:Polygon>
              </gml:surfaceMember>
              <gml:surfaceMember>
                <gml:Polygon gml:id="GEOM_847266">
                  <gml:exterior>
                    <gml:LinearRing gml:id="GEOM_847266_0_">
                      <gml:posList srsDimension="3">391851.67699455 5819090.87681551 33.6599998474121 391864.189068552 5819093.4531041 33.6599998474121 391869.949487757 5819081.28748304 33.6599998474121 391858.896601125 5819075.61139107 33.6599998474121 391851.67699455 5819090.87681551 33.6599998474121</gml:posList>
                    </gml:LinearRing>
                  </gml:exterior>
                </gml:Polygon>
              </gml:surfaceMember>
              <gml:surfaceMember>
                <gml:Polygon gml:id="GEOM_847268">
                  <gml:exterior>
                    <gml:LinearRing gml:id="GEOM_847268_0_">
                      <gml:posList srsDimension="3">391897.763076235 5819022.54705167 33.6599998474121 391903.699913359 5819025.31224433 33.6599998474121 391909.419391902 5819013.2330919 33.6599998474121 391903.482554946 5819010.46789911 33.6599998474121 391897.763076235 5819022.54705167 33.6599998474121</gml:posList>
                    </gml:LinearRing>
                  </gml:exterior>
                </gml:Polygon>
              </gml:surfaceMember>
              <gml:surfaceMember>
                <gml:Polygon gml:id="GEOM_847265">
                  <gml:exterior>
                    <gml:LinearRing gml:id="GEOM_847265_0_">
                      <gml:posList srsDimension="3">391868.654983743 5819054.97787932 33.6599998474121 391864.357127346 5819064.06543727 33.6599998474121 391875.415227179 5819069.74420681 33.6599998474121 391881.185418406 5819057.55794955 33.6599998474121 391868.654983743 5819054.97787932 33.6599998474121</gml:posList>
                    </gml:LinearRing>
                  </gml:exterior>
                </gml:Polygon>
              </gml:surfaceMember>
              <gml:surfaceMember>
                <gml:Polygon gml:id="GEOM_847267">
                  <gml:exterior>
                    <gml:LinearRing gml:id="GEOM_847267_0_">
                      <gml:posList srsDimension="3">391909.419391902 5819013.2330919 33.6599998474121 391910.156510287 5819011.67634771 33.6599998474121 391905.643182295 5819005.90480036 33.6599998474121 391903.482554946 5819010.46789911 33.6599998474121 391909.419391902 5819013.2330919 33.6599998474121</gml:posList>
                    </gml:LinearRing>
                  </gml:exterior>
                </gml:Polygon>
              </gml:surfaceMember>
              <gml:surfaceMember>
                <gml:Polygon gml:id="GEOM_847270">
                  <gml:exterior>
                    <gml:LinearRing gml:id="GEOM_847270_0_">
                      <gml:posList srsDimension="3">391886.547130472 5819046.23437367 33.6599998474121 391892.441386094 5819049.08949604 33.6599998474121 391898.183119072 5819036.9633421 33.6599998474121 391892.288863619 5819034.1082196 33.6599998474121 391886.547130472 5819046.23437367 33.6599998474121</gml:posList>
                    </gml:LinearRing>
                  </gml:exterior>
                </gml:Polygon>
              </gml:surfaceMember>
              <gml:surfaceMember>
                <gml:Polygon gml:id="GEOM_847269">
                  <gml:exterior>
                    <gml:LinearRing gml:id="GEOM_847269_0_">
                      <gml:posList srsDimension="3">391892.288863619 5819034.1082196 33.6599998474121 391898.183119072 5819036.9633421 33.6599998474121 391903.699913359 5819025.31224433 33.6599998474121 391897.763076235 5819022.54705167 33.6599998474121 391892.288863619 5819034.1082196 33.6599998474121</gml:posList>
                    </gml:LinearRing>
                  </gml:exterior>
                </gml:Polygon>
              </gml:surfaceMember>
              <gml:surfaceMember>
                <gml:Polygon gml:id="GEOM_847271">
                  <gml:exterior>
                    <gml:LinearRing gml:id="GEOM_847271_0_">
                      <gml:posList srsDimension="3">391881.185418406 5819057.55794955 33.6599998474121 391887.787864438 5819058.91742147 33.6599998474121 391892.441386094 5819049.08949604 33.6599998474121 391886.547130472 5819046.23437367 33.6599998474121 391881.185418406 5819057.55794955 33.6599998474121</gml:posList>
                    </gml:LinearRing>
                  </gml:exterior>
                </gml:Polygon>
              </gml:surfaceMember>
              <gml:surfaceMember>
                <gml:Polygon gml:id="GEOM_847272">
                  <gml:exterior>
                    <gml:LinearRing gml:id="GEOM_847272_0_">
                      <gml:posList srsDimension="3">391875.415227179 5819069.74420681 33.6599998474121 391881.244043383 5819072.7375333 33.6599998474121 391887.787864438 5819058.91742147 33.6599998474121 391881.185418406 5819057.55794955 33.6599998474121 391875.415227179 5819069.74420681 33.6599998474121</gml:posList>
                    </gml:LinearRing>
                  </gml:exterior>
                </gml:Polygon>
              </gml:surfaceMember>
              <gml:surfaceMember>
                <gml:Polygon gml:id="GEOM_847273">
                  <gml:exterior>
                    <gml:LinearRing gml:id="GEOM_847273_0_">
                      <gml:posList srsDimension="3">391869.949487757 5819081.28748304 33.6599998474121 391875.778304124 5819084.28080942 33.6599998474121 391881.244043383 5819072.7375333 33.6599998474121 391875.415227179 5819069.74420681 33.6599998474121 391869.949487757 5819081.28748304 33.6599998474121</gml:posList>
                    </gml:LinearRing>
                  </gml:exterior>
                </gml:Polygon>
              </gml:surfaceMember>
            </gml:MultiSurface>
          </bldg:lod2MultiSurface>
        </bldg:GroundSurface>
      </bldg:boundedBy>
      <bldg:address>
        <Address>
          <xalAddress>
            <xAL:AddressDetails>
              <xAL:Country>
                <xAL:Locality Type="Town">
                  <xAL:LocalityName>Berlin</xAL:LocalityName>
                  <xAL:Thoroughfare Type="Street">
                    <xAL:ThoroughfareNumber>16</xAL:ThoroughfareNumber>
                    <xAL:ThoroughfareName>Wallstr.</xAL:ThoroughfareName>
                  </xAL:Thoroughfare>
                </xAL:Locality>
              </xAL:Country>
            </xAL:AddressDetails>
          </xalAddress>
        </Address>
      </bldg:address>
    </bldg:Building>
  </cityObjectMember>
  </CityModel>